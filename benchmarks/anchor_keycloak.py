"""A Keycloak of the anchor's own, for the benchmarks that compare registro with Keycloak's own forms.

With one JVM serving both sides, each side paid part of the other's work: the anchor's forms allocate
far more than registro's admin calls, and the JVM collects that garbage whenever it fills, in whichever
side's block is running (registro's Keycloak share measured 3–5 ms per registration alone, 7–8 ms
interleaved with the anchor). A deployment runs one of the two designs, each with its Keycloak to
itself; so does the benchmark: the anchor's realm lives in this second Keycloak, started from the same
distribution and with the same options as the stack's (tools/stack/services.py: dev-file database,
themes and templates cached), and its CPU is counted apart.

It is a copy of the stack's distribution in its own folder (two Keycloaks must not share one: each
rebuilds and writes into its own), on ports the OS picks, stopped and removed afterwards.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from benchmarks.served import wait_until_served
from keycloak_ext import KeycloakGateway, KeycloakSettings
from tests.support.ports import unused_port
from tools.stack.profiles import Profile
from tools.stack.services import keycloak_home, services_for

ADMIN = ("admin", "admin")  # a throwaway local server on 127.0.0.1, deleted with its folder
READY_TIMEOUT_S = 300


@dataclass(frozen=True)
class AnchorKeycloak:
    url: str
    pid: int

    def admin(self):
        """Its master admin (python-keycloak), as the benchmarks' `admin` fixture is the stack's."""
        settings = replace(KeycloakSettings.from_env(), server_url=self.url.rstrip("/") + "/",
                           admin_user=ADMIN[0], admin_password=ADMIN[1])
        admin = KeycloakGateway.for_bootstrap_admin(settings).admin
        admin.connection.timeout = 300  # creating a realm takes tens of seconds on a busy host
        return admin


def keycloak_argv(stack_argv: list[str], home: Path, port: int, management_port: int) -> list[str]:
    """The stack's Keycloak command (tools/stack/services.py) run from `home` on other ports, without the
    realm import: the same options, so both sides' Keycloaks are the same server."""
    argv = [str(home / "bin" / "kc.sh")]
    for arg in stack_argv[1:]:
        if arg == "--import-realm":
            continue
        if arg.startswith("--http-port="):
            arg = f"--http-port={port}"
        elif arg.startswith("--http-management-port="):
            arg = f"--http-management-port={management_port}"
        argv.append(arg)
    return argv


def stack_keycloak() -> tuple[list[str], dict[str, str], Path]:
    """The test stack's Keycloak: its command, its environment and its distribution's folder."""
    profile = Profile.named("test")
    service = next(s for s in services_for(profile) if s.name == "keycloak")
    return service.argv, dict(service.env), keycloak_home(profile)


@contextmanager
def anchor_keycloak(folder: Path) -> Iterator[AnchorKeycloak]:
    """Starts a copy of the test stack's Keycloak (its distribution without its data, its options) in
    `folder`; yields its URL and the JVM's pid."""
    stack_argv, stack_env, stack_home = stack_keycloak()
    home = folder / stack_home.name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(stack_home, home, ignore=shutil.ignore_patterns("data"), symlinks=True)
    port, management = unused_port(), unused_port()
    env = {**os.environ, **stack_env, "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0], "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1]}
    log = (folder / "keycloak.log").open("wb")
    proc = subprocess.Popen(keycloak_argv(stack_argv, home, port, management), env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        # /health/ready answers 503 until Keycloak is ready
        wait_until_served(proc, f"http://127.0.0.1:{management}/health/ready", READY_TIMEOUT_S,
                          f"el Keycloak del ancla (ver {folder}/keycloak.log)")
        yield AnchorKeycloak(f"http://127.0.0.1:{port}", _java_pid(proc.pid))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _java_pid(script_pid: int) -> int:
    """kc.sh runs the JVM as its child: the process whose CPU is the anchor's."""
    children = Path(f"/proc/{script_pid}/task/{script_pid}/children")
    try:
        found = children.read_text().split()
    except OSError:
        found = []
    return int(found[0]) if found else script_pid
