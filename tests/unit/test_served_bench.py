"""The benchmarks' served registro runs as the stack serves it (benchmarks/served.py)."""
from __future__ import annotations

from benchmarks.served import served_env
from registro.config import Settings
from tools.stack.profiles import Profile
from tools.stack.services import services_for


def test_served_registro_delivers_from_the_outbox_in_the_background_whatever_the_runner_says():
    # `make bench` runs under the test runner, whose environment asks pytest's own apps to deliver in
    # the caller's thread; the served registro must not inherit that.
    runner_env = {"OUTBOX_BACKGROUND": "false", "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics", "KEYCLOAK_REALM": "anam"}
    env = served_env(runner_env, 18000, REGISTRATION_LIMITS="1000000 per hour")
    assert env["OUTBOX_BACKGROUND"] == "true"
    assert env["REGISTRO_PORT"] == "18000"
    assert env["REGISTRATION_LIMITS"] == "1000000 per hour"
    assert env["KEYCLOAK_REALM"] == "anam"
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env


def test_the_stack_serves_registro_with_the_outbox_in_the_background(tmp_path):
    profile = Profile.named("test", env={"TEST_STACK_DIR": str(tmp_path)})
    registro = next(s for s in services_for(profile) if s.name == "registro")
    assert "OUTBOX_BACKGROUND" not in registro.env  # the config's default, as served_env sets it
    assert Settings.from_env({"APP_ENV": "local"}).outbox_background is True


def test_a_benchmark_may_still_choose_in_thread_delivery():
    assert served_env({}, 1, OUTBOX_BACKGROUND="false")["OUTBOX_BACKGROUND"] == "false"


def test_keycloak_caches_its_themes_on_every_stack_but_the_one_for_editing_them(tmp_path):
    """The benchmarks' anchor is Keycloak's own form: served from cached themes and templates, as a
    deployed Keycloak serves it, not re-reading them on every page as `make run` does for theme work."""
    def keycloak_argv(name: str) -> list[str]:
        profile = Profile.named(name, env={"TEST_STACK_DIR": str(tmp_path), "STACK_DIR": str(tmp_path)})
        return next(s for s in services_for(profile) if s.name == "keycloak").argv

    for flag in ("--spi-theme--cache-themes", "--spi-theme--cache-templates"):
        assert f"{flag}=true" in keycloak_argv("test")
        assert f"{flag}=false" in keycloak_argv("run")


def test_the_anchors_keycloak_is_the_stacks_on_its_own_ports_without_the_realm_import(tmp_path):
    """benchmarks/anchor_keycloak.py: the same server and options as the stack's Keycloak, so the two
    sides of the registration benchmark differ only in what they do, each on a JVM of its own."""
    from pathlib import Path

    from benchmarks.anchor_keycloak import keycloak_argv

    profile = Profile.named("test", env={"TEST_STACK_DIR": str(tmp_path)})
    stack_argv = next(s for s in services_for(profile) if s.name == "keycloak").argv
    home = Path("/tmp/ancla/keycloak")
    argv = keycloak_argv(stack_argv, home, 41001, 41002)
    assert argv[0] == str(home / "bin" / "kc.sh")
    assert "--import-realm" not in argv and "--import-realm" in stack_argv
    assert "--http-port=41001" in argv and "--http-management-port=41002" in argv
    ports = ("--http-port=", "--http-management-port=")
    assert [a for a in argv[1:] if not a.startswith(ports)] == \
        [a for a in stack_argv[1:] if not a.startswith(ports) and a != "--import-realm"]
    assert "--spi-theme--cache-templates=true" in argv


def test_the_benchmarks_wait_for_their_process_to_serve_and_say_when_it_died(tmp_path):
    import subprocess
    import sys

    import pytest

    from benchmarks.served import wait_until_served
    from tests.support.ports import unused_port

    port = unused_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_served(server, f"http://127.0.0.1:{port}/", 30, "el servidor de prueba")
    finally:
        server.terminate()
        server.wait(10)
    died = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="el proceso de prueba no arrancó \\(código 3\\)"):
        wait_until_served(died, f"http://127.0.0.1:{unused_port()}/", 30, "el proceso de prueba")
