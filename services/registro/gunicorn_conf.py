"""gunicorn settings of `registro`: `gunicorn -c python:registro.gunicorn_conf registro.wsgi:app`.

Command-line options (--bind, --workers, --threads…) still override these.
- Logs: JSON lines, gunicorn's (access log included, through
  `registro.observability.access_log.TokenMaskingLogger`) and the application's (root logger, set in
  `on_starting` so every worker inherits it).
- Metrics: prometheus_client's multiprocess mode. PROMETHEUS_MULTIPROC_DIR is one folder per
  gunicorn master (the one given, else $STACK_DIR/metrics/gunicorn-<pid> on the local stacks or
  the temporary folder otherwise), emptied when gunicorn starts (values of a previous run would
  be summed in) and set before any worker imports the app; `child_exit` marks a dead worker.
- Start-up: the secrets check runs here, in the master, so a refused setting stops gunicorn with
  one clear line instead of workers failing to boot in a loop.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from keycloak_ext.shipped_secrets import InsecureSettings

bind = os.environ.get("REGISTRO_BIND", f"127.0.0.1:{os.environ.get('REGISTRO_PORT', '5000')}")
workers = int(os.environ.get("REGISTRO_WORKERS", "2"))
threads = int(os.environ.get("REGISTRO_THREADS", "8"))
accesslog = "-"
errorlog = "-"
logger_class = "registro.observability.access_log.TokenMaskingLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True  # gunicorn 27 defaults to one socket path per user: replicas and stacks would share it
# gunicorn maps a `SCRIPT_NAME` request header to the mount point when the peer is in forwarded_allow_ips
# (127.0.0.1: the balancer, or anyone on the host): a path outside it got gunicorn's bare 500, a path inside
# it moved every link. The service is mounted at the root, so no header may set it (nor PATH_INFO): with an
# empty list, names with an underscore are dropped (header_map's default).
forwarder_headers = ""


def _metrics_dir() -> str:
    """Two replicas must never share a folder (a start empties it): the given one is the
    operator's choice; otherwise a folder of this master's own, next to which the folders of
    masters no longer running are removed."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        return given
    stack = os.environ.get("STACK_DIR")
    base = Path(stack) / "metrics" if stack else Path(tempfile.gettempdir()) / "registro-metrics"
    if base.is_dir():
        for old in base.glob("gunicorn-*"):
            pid = old.name.removeprefix("gunicorn-")
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
    return str(base / f"gunicorn-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _reset(folder: str) -> None:
    path = Path(folder)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


# Done when gunicorn reads this file: once, in the master (gunicorn imports it as a module, so a
# HUP reload does not run it again), before it loads the logger class (which imports the app's
# package) and before it forks a worker.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
_reset(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server) -> None:
    from registro.config import Settings
    from registro.observability import logs

    logs.configure_root()  # the application's logs, JSON like gunicorn's; workers inherit it
    try:
        settings = Settings.from_env()
    except InsecureSettings as exc:
        logging.getLogger("registro").critical("registro no arranca: %s", exc)  # a JSON line like every other
        sys.exit(4)
    if settings.database_url:
        _migrate(settings.database_url)


def _migrate(url: str) -> None:
    """The database's schema up to this release's head, before any worker serves (replicas starting
    together take turns under an advisory lock: migrations/env.py)."""
    from sqlalchemy.exc import OperationalError

    from registro.platform.db import migrate

    try:
        migrate.upgrade(url)
    except OperationalError as exc:
        logging.getLogger("registro").critical("registro no arranca: la base de datos no responde (%s)",
                                               type(exc.orig).__name__ if exc.orig else type(exc).__name__)
        sys.exit(5)


def post_worker_init(worker) -> None:
    # The outbox's delivery thread and the reconciler run in every worker from its start, not only
    # after its first request: emails left by a dead worker are sent even on an idle replica.
    from registro import background
    from registro.wsgi import app

    background.start(app)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
