"""Starts, probes and stops the processes of one stack; pid files make `down` work from any shell."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import code_version
from .profiles import ROOT, Profile
from .services import Service, ensure_database, keycloak_home, pg_dir, services_for


class StackError(RuntimeError):
    pass


class Stack:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.env = {**os.environ, **profile.service_env()}
        self.pids = profile.data / "pids"
        self.logs = profile.data / "logs"
        self.services = {s.name: s for s in services_for(profile)}
        self._code: str | None = None  # code_version.digest of the tree, read once per command

    # --- process bookkeeping -----------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def pid_of(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str) -> None:
        service = self.services[name]
        if self.pid_of(name):
            return
        self._refuse_busy_port(service)
        if service.prepare:
            service.prepare()
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {**self.env, **{k: v.format(**self.env) for k, v in service.env.items()}}
        log = open(self.log_of(name), "ab")
        proc = subprocess.Popen(service.argv, cwd=service.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self._pid_file(name).write_text(str(proc.pid))
        if name.startswith(("registro", "modulo")):  # tests run by hand warn when the tree has changed since
            self._code = self._code or code_version.digest()
            code_version.record_path(self.pids, name).write_text(self._code)

    def _refuse_busy_port(self, service: Service) -> None:
        for port in service.ports:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise StackError(f"el puerto {port} ({service.name}) ya está ocupado por otro proceso; "
                                     f"libérelo o cambie su variable de entorno de puerto")

    def wait_ready(self, name: str) -> None:
        service = self.services[name]
        deadline = time.monotonic() + service.ready_timeout_s
        delay = 0.05
        while time.monotonic() < deadline:
            if self.pid_of(name) is None:
                raise StackError(f"{name} terminó al arrancar; últimas líneas de {self.log_of(name)}:\n{self.tail(name)}")
            if service.ready_check() if service.ready_check else probe(service.ready_url):
                return
            time.sleep(delay)  # polling interval of a readiness probe, not a fixed wait
            delay = min(delay * 2, 1.0)
        raise StackError(f"{name} no estuvo listo en {service.ready_timeout_s:.0f} s; "
                         f"últimas líneas de {self.log_of(name)}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_of(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(sin registro)"

    def stop(self, name: str, grace_s: float = 20.0) -> None:
        pid = self.pid_of(name)
        command = self.services[name].stop_command if name in self.services else None
        if pid is not None and command:
            subprocess.run(command, capture_output=True, timeout=grace_s)
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                _signal_group(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)

    # --- the whole stack ----------------------------------------------------------------------
    def up(self) -> None:
        t0 = time.monotonic()
        # An interrupted or failed start stops what it started, never what was already running
        # (Ctrl-C of a second `make prod-up` used to stop a whole running stack).
        running = {name for name in self.services if self.pid_of(name)}
        try:
            if self.profile.production:
                from .prod import up

                up(self)
            else:
                self._up_local()
        except BaseException:
            for name in reversed(list(self.services)):
                if name not in running:
                    self.stop(name)
            raise
        print(f"pila «{self.profile.name}» lista en {time.monotonic() - t0:.1f} s", flush=True)

    def _up_local(self) -> None:
        for name in ("postgres", "s3", "redis", "mail", "keycloak"):
            self.start(name)
        self.wait_ready("postgres")
        self._ensure_registro_database()
        self.wait_ready("s3")
        self.wait_ready("redis")
        self._run_python("-m", "tools.stack.bucket")
        self.wait_ready("mail")
        for name in ("registro", "modulo"):
            self.start(name)
        self.wait_ready("keycloak")
        self._run_python("-m", "keycloak_ext", "provision")
        self.wait_ready("registro")
        self.wait_ready("modulo")

    def _ensure_registro_database(self) -> None:
        """registro's role and database (the password kept with the stack's data); registro applies
        its migrations itself when it starts."""
        ensure_database(self.profile, self.profile._local_secret("registro_db_password"), "registro")

    def down(self) -> None:
        for name in reversed(list(self.services)):
            self.stop(name)

    def reset_data(self) -> None:
        """Empties the stack's data (realm database, buckets, inbox); downloads are kept."""
        self.down()
        if self.profile.production:
            from .prod import data_paths

            paths = data_paths(self.profile)
        else:
            paths = [keycloak_home(self.profile) / "data" / "h2", pg_dir(self.profile), self.profile.data / "s3",
                     self.profile.data / "meta-s3", self.profile.data / "mail.sqlite", self.profile.data / "redis",
                     self.logs]
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def _run_python(self, *args: str) -> None:
        env = {**self.env, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"falló {' '.join(args)}:\n{result.stdout}{result.stderr}")
        if result.stdout.strip():
            print(result.stdout.strip(), flush=True)

    def urls(self) -> list[tuple[str, str]]:
        p = self.profile
        if p.production:
            from .tls import local_ca

            kc, reg = self.env["KEYCLOAK_PUBLIC_URL"], self.env["REGISTRO_PUBLIC_URL"]  # https, the balancer's
            ca = local_ca(p)
            return [
                ("Inicio de sesión (balanceador → 2 nodos de Keycloak)", f"{kc}/realms/anam/account"),
                ("Registro (balanceador → 2 réplicas)", f"{reg}/registro"),
                ("Consola de validación", f"{reg}/revision/"),
                ("Módulo de ejemplo", p.url("MODULO_PORT") + "/"),
                ("Consola de administración (interna)", f"{p.url('KEYCLOAK_ADMIN_PORT')}/admin/master/console/"),
                ("Bandeja de correo (maildump)", p.url("MAIL_WEB_PORT") + "/"),
                ("Secretos generados (0600)", str(p.data / "secrets.env")),
                *([("Autoridad local de los certificados (confíe en ella en el navegador)", str(ca))] if ca else []),
            ]
        kc = p.url("KEYCLOAK_PORT")
        reg = p.url("REGISTRO_PORT")
        return [
            ("Inicio de sesión (portal: módulo de ejemplo)", p.url("MODULO_PORT") + "/entrar"),
            ("Registro", f"{reg}/registro"),
            ("Recuperar contraseña", f"{reg}/recuperar"),
            ("Consola de validación", f"{reg}/revision/"),
            ("Módulo de ejemplo", p.url("MODULO_PORT") + "/"),
            ("Bandeja de correo (maildump)", p.url("MAIL_WEB_PORT") + "/"),
            ("Consola de administración de Keycloak (admin/admin)", f"{kc}/admin/master/console/#/anam"),
            ("S3 (versitygw)", p.url("S3_PORT")),
        ]


def probe(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie counts as gone: reaped here when it is our child; when another process started it
    # (the tests act on the stack `make test` started), /proc shows its state.
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
