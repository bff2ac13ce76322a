"""How each process of the local stack is started and how its readiness is probed."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .profiles import CACHE, KEYCLOAK_VERSION, ROOT, Profile


@dataclass
class Service:
    name: str
    argv: list[str]
    ready_url: str | None  # probed until it answers with any HTTP status below 500
    ports: tuple[int, ...] = ()  # every port it listens on: must be free before it starts
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    prepare: Callable[[], None] | None = None
    ready_timeout_s: float = 120.0
    ready_check: Callable[[], bool] | None = None  # for what does not speak HTTP (Redis, PostgreSQL)
    stop_command: list[str] | None = None  # the server's own clean stop (pg_ctl), before any signal


def keycloak_home(profile: Profile) -> Path:
    return profile.data / f"keycloak-{KEYCLOAK_VERSION}"


def _prepare_keycloak(profile: Profile) -> Callable[[], None]:
    def prepare() -> None:
        home = keycloak_home(profile)
        if not (home / "bin" / "kc.sh").exists():
            import zipfile

            archive = CACHE / "keycloak" / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(profile.data)
            for script in (home / "bin").glob("*.sh"):
                script.chmod(0o755)
        # The realm is imported from the rendered file at every start; an existing realm is
        # skipped by Keycloak and brought up to date by `python -m keycloak_ext provision`.
        sys.path.insert(0, str(ROOT))
        from keycloak_ext.realm_files import write_import

        write_import(home / "data" / "import")

    return prepare


def redis_answers(port: int) -> bool:
    """True once Redis accepts a command (`-NOAUTH` from a password-protected one counts)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def redis_service(profile: Profile, port: int, *, password: str | None = None, durable: bool = False,
                  name: str = "redis") -> Service:
    """Debian's redis-server with its own config file, port and folder (never the system service)."""
    folder = profile.data / name

    def prepare() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {folder}", "daemonize no",
                 'logfile ""', "databases 4",
                 # Rate-limit windows and leases are worth little after a crash; a durable stack
                 # (prod) keeps an append-only file so the queue index and sessions survive restarts.
                 "save \"\"", f"appendonly {'yes' if durable else 'no'}"]
        if password:
            lines.append(f"requirepass {password}")
        conf = folder / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)

    return Service(name=name, argv=["redis-server", str(folder / "redis.conf")], ready_url=None,
                   ready_check=lambda: redis_answers(port), ports=(port,), prepare=prepare,
                   ready_timeout_s=30)


def java_home() -> str:
    found = os.environ.get("KC_JAVA_HOME") or os.environ.get("JAVA21_HOME")
    if found:
        return found
    out = (ROOT / ".cache" / "java_home")
    return out.read_text().strip() if out.exists() else os.environ.get("JAVA_HOME", "")


PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def pg_dir(profile: Profile) -> Path:
    return profile.data / "postgres"


def _as_postgres(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, **kwargs)


def _prepare_postgres(profile: Profile) -> None:
    folder = pg_dir(profile)
    if (folder / "PG_VERSION").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    shutil.chown(folder, "postgres", "postgres")
    folder.chmod(0o700)
    # initdb and postgres refuse to run as root: the Debian package's `postgres` user owns the data.
    done = _as_postgres(str(PG_BIN / "initdb"), "-D", str(folder), "-U", "postgres", "-E", "UTF8",
                        "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256")
    if done.returncode != 0:
        raise RuntimeError(f"initdb falló:\n{done.stdout}{done.stderr}")


def postgres_ready(profile: Profile) -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(profile.ports["POSTGRES_PORT"])],
                          capture_output=True).returncode == 0


# The SQL that makes a role and its database, shared with docker-compose.yml's `databases` service.
ROLE_DATABASE_SQL = ROOT / "deploy" / "postgres" / "role-database.sql"


def ensure_database(profile: Profile, password: str, name: str = "keycloak") -> None:
    """A role and the database it owns, both called `name` (Keycloak's, registro's); the password is
    (re)set from the secrets file each start and reaches psql by environment, not its command line."""
    done = _as_postgres("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(pg_dir(profile)),
                        "-p", str(profile.ports["POSTGRES_PORT"]), "-d", "postgres", "-v", f"name={name}",
                        "-c", "\\getenv password DB_PASSWORD", "-f", str(ROLE_DATABASE_SQL),
                        env={**os.environ, "DB_PASSWORD": password})
    if done.returncode != 0:
        raise RuntimeError(f"no se pudo preparar la base {name}: {done.stderr.strip()}")


def postgres_service(profile: Profile, *, max_connections: int = 100, switch_user: bool = True) -> Service:
    """Debian's PostgreSQL 15 in the stack's folder, run as the unprivileged `postgres` user (initdb
    and postgres refuse root), on loopback only: the same server in every profile. `switch_user=False`
    leaves the switch to a caller that drops privileges itself (prod's confinement)."""
    port = profile.ports["POSTGRES_PORT"]
    as_postgres = ["runuser", "-u", "postgres", "--"]
    return Service(name="postgres", argv=[*(as_postgres if switch_user else ()), str(PG_BIN / "postgres"),
                                          "-D", str(pg_dir(profile)), "-p", str(port),
                                          "-c", "listen_addresses=127.0.0.1",
                                          "-c", f"unix_socket_directories={pg_dir(profile)}",
                                          "-c", f"max_connections={max_connections}"],
                   ready_url=None, ready_check=lambda: postgres_ready(profile), ports=(port,),
                   prepare=lambda: _prepare_postgres(profile), ready_timeout_s=60,
                   stop_command=[*as_postgres, str(PG_BIN / "pg_ctl"), "stop", "-D",
                                 str(pg_dir(profile)), "-m", "fast", "-w"])


def s3_service(profile: Profile) -> Service:
    p = profile.ports
    s3_root = profile.data / "s3"
    return Service(
        name="s3",
        # --keep-alive: without it versitygw answers every request with "Connection: close", so each S3
        # call of every client paid a new TCP connection (6 per registration).
        argv=[str(CACHE / "bin" / "versitygw"), "--port", f"127.0.0.1:{p['S3_PORT']}", "--quiet", "--keep-alive",
              "posix", "--sidecar", str(profile.data / "meta-s3"), str(s3_root)],
        ready_url=f"http://127.0.0.1:{p['S3_PORT']}/",
        ports=(p['S3_PORT'],),
        prepare=lambda: (s3_root.mkdir(parents=True, exist_ok=True),
                         (profile.data / "meta-s3").mkdir(parents=True, exist_ok=True)),
        env={"ROOT_ACCESS_KEY_ID": "{S3_ACCESS_KEY}", "ROOT_SECRET_ACCESS_KEY": "{S3_SECRET_KEY}"},
        ready_timeout_s=30,
    )


def mail_service(profile: Profile) -> Service:
    p = profile.ports
    return Service(
        name="mail",
        argv=[str(CACHE / "maildump-venv" / "bin" / "maildump"), "-f",
              "--smtp-ip", "127.0.0.1", "--smtp-port", str(p["SMTP_PORT"]),
              "--http-ip", "127.0.0.1", "--http-port", str(p["MAIL_WEB_PORT"]),
              "--db", str(profile.data / "mail.sqlite")],
        ready_url=f"http://127.0.0.1:{p['MAIL_WEB_PORT']}/messages/",
        ports=(p['MAIL_WEB_PORT'], p['SMTP_PORT'],),
        ready_timeout_s=30,
    )


def modulo_service(profile: Profile) -> Service:
    p = profile.ports
    return Service(
        name="modulo",
        argv=[str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{p['MODULO_PORT']}",
              "--workers", "1", "--threads", "4", "--access-logfile", "-",
              "modulo_ejemplo.wsgi:app"],
        ready_url=f"http://127.0.0.1:{p['MODULO_PORT']}/salud",
        ports=(p['MODULO_PORT'],),
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"},
        ready_timeout_s=60,
    )



# Environment of every `registro` process (local, test, prod replicas; the Dockerfile sets the same).
# glibc gives each thread that allocates its own malloc arena (up to 8 per core): a worker's request,
# upload and outbox threads each kept megabytes of 10 MiB uploads' buffers, and RSS grew ≈ 20 MiB over
# the first 20 uploads. Two arenas keep it flat (benchmarks/bench_upload.py prints it).
REGISTRO_PROCESS_ENV = {"MALLOC_ARENA_MAX": "2"}

def services_for(profile: Profile) -> list[Service]:
    if profile.production:
        from .prod import prod_services

        return prod_services(profile)
    p = profile.ports
    venv_bin = ROOT / ".venv" / "bin"
    kc_env = {
        "JAVA_HOME": java_home(),
        "JAVA_OPTS_KC_HEAP": "-Xms256m -Xmx1024m",
        "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "KC_BOOTSTRAP_ADMIN_PASSWORD": "admin",
    }
    registro_env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'services'}", **REGISTRO_PROCESS_ENV}
    return [
        postgres_service(profile),
        s3_service(profile),
        redis_service(profile, p["REDIS_PORT"]),
        mail_service(profile),
        Service(
            name="keycloak",
            argv=[str(keycloak_home(profile) / "bin" / "kc.sh"), "start-dev", "--import-realm",
                  f"--http-port={p['KEYCLOAK_PORT']}", "--http-host=127.0.0.1",
                  f"--http-management-port={p['KEYCLOAK_MGMT_PORT']}",
                  "--health-enabled=true", "--db=dev-file",
                  f"--spi-theme--folder--dir={ROOT / 'themes'}", *theme_caching(cache=profile.name != "run")],
            ready_url=f"http://127.0.0.1:{p['KEYCLOAK_MGMT_PORT']}/health/ready",
            ports=(p['KEYCLOAK_PORT'], p['KEYCLOAK_MGMT_PORT'],),
            env=kc_env,
            prepare=_prepare_keycloak(profile),
            ready_timeout_s=300,
        ),
        # Workers (REGISTRO_WORKERS): registration and the responsiva are CPU-bound, so more processes
        # use more cores. Rate limits are exact across workers only when they share RATELIMIT_STORAGE_URI
        # (the stack's Redis): see _registro_workers.
        Service(
            name="registro",
            argv=[str(venv_bin / "gunicorn"), "-c", "python:registro.gunicorn_conf",  # JSON logs, metrics
                  "--bind", f"127.0.0.1:{p['REGISTRO_PORT']}", "--workers", _registro_workers(profile.service_env()),
                  "--threads", "8", "registro.wsgi:app"],
            ready_url=f"http://127.0.0.1:{p['REGISTRO_PORT']}/salud",
            ports=(p['REGISTRO_PORT'],),
            env=registro_env,
            ready_timeout_s=60,
        ),
        modulo_service(profile),
    ]


def theme_caching(*, cache: bool) -> list[str]:
    """`make run` reloads themes and templates on every page, so an edit of themes/ shows at once;
    every other stack caches them, as a deployed Keycloak does (start-dev alone would not): its pages
    and emails then cost what they cost in production, the benchmarks' anchor first among them."""
    value = "true" if cache else "false"
    return [f"--spi-theme--cache-themes={value}", f"--spi-theme--cache-templates={value}"]


def _registro_workers(env: dict) -> str:
    """REGISTRO_WORKERS when set; else 2 (the cores of the reference machine) when rate limits live in
    Redis, and 1 with the in-process memory:// store, which is exact within one process only."""
    shared = env.get("REDIS_URL") or env.get("RATELIMIT_STORAGE_URI", "memory://") != "memory://"
    return os.environ.get("REGISTRO_WORKERS") or ("2" if shared else "1")
