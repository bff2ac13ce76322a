"""The prod profile's pieces that need no running service: secrets, ports, test routing, the
balancer-only trust of X-Forwarded-For."""
from __future__ import annotations

import stat

from flask import Flask, request

import pytest

from keycloak_ext.shipped_secrets import InsecureSettings
from registro.web import trusted_proxy
from registro.config import Settings
from tools.stack import prod
from tools.stack.__main__ import split_test_args
from tools.stack.profiles import Profile


def test_secrets_are_generated_once_private_and_complete(tmp_path):
    profile = Profile.named("prod", env={"PROD_STACK_DIR": str(tmp_path)})
    first = prod.load_secrets(profile)
    assert set(first) == set(prod.SECRET_NAMES) and all(len(v) >= 20 for v in first.values())
    assert stat.S_IMODE(prod.secrets_file(profile).stat().st_mode) == 0o600
    assert prod.load_secrets(profile) == first, "kept across restarts"
    env = prod.prod_env(profile)
    assert env["APP_ENV"] != "local" and all(env[name] == first[name] for name in prod.SECRET_NAMES)
    assert first["REDIS_PASSWORD"] in env["REDIS_URL"] and env["RATELIMIT_STORAGE_URI"] == env["REDIS_URL"]


def test_ports_are_distinct_overridable_and_in_their_block(tmp_path):
    for name, prefix in (("prod", "PROD_"), ("prodtest", "TEST_PROD_")):
        ports = Profile.named(name, env={}).ports
        assert len(set(ports.values())) == len(ports) and all(31000 <= p <= 31999 for p in ports.values())
        assert all(31000 <= p + prod.FD_PORT_OFFSET <= 31999 for k, p in ports.items() if "CLUSTER" in k)
        moved = Profile.named(name, env={prefix + "REDIS_PORT": "21479"}).ports
        assert moved["REDIS_PORT"] == 21479
    assert not set(Profile.named("prod", env={}).ports.values()) & set(Profile.named("prodtest", env={}).ports.values())


def test_run_and_test_profiles_have_redis_and_declare_themselves_local(tmp_path):
    for name, prefix in (("run", ""), ("test", "TEST_")):
        env = Profile.named(name, env={prefix + "STACK_DIR": str(tmp_path / name)}).service_env()
        assert env["APP_ENV"] == "local" and env["REDIS_URL"].startswith("redis://127.0.0.1:")
        assert env["RATELIMIT_STORAGE_URI"] == env["REDIS_URL"]
    assert Profile.named("test", env={"TEST_REDIS_PORT": "21079"}).ports["REDIS_PORT"] == 21079


def test_make_test_sends_production_tests_to_their_own_stack():
    assert split_test_args([]) == (["--ignore=tests/production"], ["tests/production"])
    assert split_test_args(["-x"]) == (["-x", "--ignore=tests/production"], ["-x", "tests/production"])
    assert split_test_args(["tests/integration/test_review.py"]) == (["tests/integration/test_review.py"], None)
    assert split_test_args(["tests/production/test_1_keycloak_cluster.py", "-q"]) == \
        (None, ["tests/production/test_1_keycloak_cluster.py", "-q"])
    # Options keep their values and their place; `make bench` routes its two halves.
    assert split_test_args(["tests/unit", "-p", "no:cacheprovider", "tests/production", "-k", "x"]) == \
        (["tests/unit", "-p", "no:cacheprovider", "-k", "x"], ["-p", "no:cacheprovider", "tests/production", "-k", "x"])
    assert split_test_args(["benchmarks", "--ignore=benchmarks/bench_prod.py", "-o", "python_files=bench_*.py"]) == \
        (["benchmarks", "--ignore=benchmarks/bench_prod.py", "-o", "python_files=bench_*.py"], None)
    assert split_test_args(["benchmarks/bench_prod.py", "-s"]) == (None, ["benchmarks/bench_prod.py", "-s"])


def _app(addresses: str):
    app = Flask(__name__)
    app.get("/")(lambda: request.remote_addr)
    app.wsgi_app = trusted_proxy.wrap(app.wsgi_app, 1, Settings.from_env({
        "APP_ENV": "local", "TRUSTED_PROXIES": "1", "TRUSTED_PROXY_ADDRESSES": addresses}).trusted_proxy_addresses)
    return app.test_client()


def test_forwarded_for_is_believed_only_from_the_balancer():
    client = _app("127.0.0.10")
    from_balancer = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"},
                               environ_base={"REMOTE_ADDR": "127.0.0.10"})
    assert from_balancer.text == "203.0.113.7"
    from_elsewhere = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"},
                                environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert from_elsewhere.text == "127.0.0.1"
    # No list (local stacks): any peer, as before.
    assert _app("").get("/", headers={"X-Forwarded-For": "203.0.113.7"}).text == "203.0.113.7"


DATABASE_URL = "postgresql+psycopg://registro:s3cr3t-de-la-base@db.interna:5432/registro"


def test_trusting_forwarded_headers_from_any_peer_is_refused_outside_a_local_stack(monkeypatch):
    # A deployment with TRUSTED_PROXIES but no balancer address would let anyone reaching a replica
    # directly choose the address its rate limits count: the start stops and names the variable.
    production = {"TRUSTED_PROXIES": "1", "REGISTRO_SECRET_KEY": "5U9k530zZ54s5yosnCbbfg6CPF0q3iZZwWhSBs9O-V4", "DATABASE_URL": DATABASE_URL, "REGISTRO_CLIENT_SECRET": "c" * 40, "REVISION_CLIENT_SECRET": "r" * 40,
                  "S3_ACCESS_KEY": "a" * 20, "S3_SECRET_KEY": "s" * 40}
    with pytest.raises(InsecureSettings) as refused:
        Settings.from_env(production)
    assert refused.value.variables == ["TRUSTED_PROXY_ADDRESSES"]
    assert Settings.from_env({**production, "TRUSTED_PROXY_ADDRESSES": "10.0.0.5, 10.0.0.6"}
                             ).trusted_proxy_addresses == ("10.0.0.5", "10.0.0.6")
    assert Settings.from_env({"APP_ENV": "local", "TRUSTED_PROXIES": "1"}).trusted_proxy_addresses == ()


def test_documents_sent_over_plain_http_from_https_pages_are_refused_outside_a_local_stack():
    production = {"REGISTRO_SECRET_KEY": "5U9k530zZ54s5yosnCbbfg6CPF0q3iZZwWhSBs9O-V4", "DATABASE_URL": DATABASE_URL, "REGISTRO_CLIENT_SECRET": "c" * 40, "REVISION_CLIENT_SECRET": "r" * 40,
                  "S3_ACCESS_KEY": "a" * 20, "S3_SECRET_KEY": "s" * 40, "REGISTRO_PUBLIC_URL": "https://acceso.example"}
    with pytest.raises(InsecureSettings) as refused:
        Settings.from_env({**production, "S3_PUBLIC_URL": "http://archivos.example"})
    assert refused.value.variables == ["S3_PUBLIC_URL"]
    assert Settings.from_env({**production, "S3_PUBLIC_URL": "https://archivos.example"}).s3.public_url == \
        "https://archivos.example"
    assert Settings.from_env(production).s3.public_url is None  # unset: uploads go through the service
    assert Settings.from_env({**production, "APP_ENV": "local", "S3_PUBLIC_URL": "http://127.0.0.1:7070"}
                             ).s3.public_url == "http://127.0.0.1:7070"


def test_balancer_config_is_valid_haproxy(tmp_path):
    import shutil
    import subprocess

    profile = Profile.named("prodtest", env={"TEST_PROD_STACK_DIR": str(tmp_path)})
    assert shutil.which("haproxy"), "make setup instala haproxy (tools/system-packages.sh)"
    prod.balancer(profile).prepare()  # certificate, error pages, config checked by `haproxy -c`
    cfg = tmp_path / "haproxy" / "haproxy.cfg"
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    text = cfg.read_text()
    assert "X-Request-ID" in text and "X-Forwarded-For %[src]" in text and "deny_status 413" in text
    assert "path_beg /admin" in text and text.count("check") >= 4
    # TLS on every public front, plain HTTP redirected, the real protocol forwarded, HSTS.
    assert text.count(f"ssl crt {tmp_path}/haproxy/tls.pem") == 3
    assert f'redirect prefix "https://127.0.0.1:{profile.ports["REGISTRO_PORT"]}" code 301' in text
    assert "X-Forwarded-Proto https if { ssl_fc }" in text and "X-Forwarded-Proto http\n" not in text
    assert "Strict-Transport-Security" in text and text.count("insert indirect nocache httponly secure") == 2
    env = prod.prod_env(profile)
    assert all(env[k].startswith("https://") for k in ("REGISTRO_PUBLIC_URL", "KEYCLOAK_PUBLIC_URL", "S3_PUBLIC_URL"))
    assert env["KEYCLOAK_URL"].startswith("http://")  # the internal back channel
    assert f"--hostname={env['KEYCLOAK_PUBLIC_URL']}" in prod.keycloak_node(profile, "a").argv


def test_the_local_authority_issues_a_certificate_clients_verify(tmp_path):
    import socket
    import ssl
    import threading

    from tools.stack import tls

    profile = Profile.named("prodtest", env={"TEST_PROD_STACK_DIR": str(tmp_path)})
    made = tls.ensure_certificates(profile, tmp_path / "haproxy" / "tls.pem")
    assert made.ca == tls.local_ca(profile) and stat.S_IMODE(made.bundle.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca-key.pem").stat().st_mode) == 0o600
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(made.bundle)
    client_side = ssl.create_default_context(cafile=str(made.ca))  # hostname checked against the SAN
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with server_side.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)

        worker = threading.Thread(target=serve)
        worker.start()
        with client_side.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1") as c:
            assert c.version() in ("TLSv1.2", "TLSv1.3")
            c.send(b"x")
        worker.join()
    # Made once: a restart keeps the authority and the certificate browsers were told to trust.
    ca_before, bundle_before = made.ca.read_bytes(), made.bundle.read_bytes()
    tls.ensure_certificates(profile, made.bundle)
    assert made.ca.read_bytes() == ca_before and made.bundle.read_bytes() == bundle_before


def test_an_operators_certificate_replaces_the_local_authority(tmp_path, monkeypatch):
    from tools.stack import tls

    own = tmp_path / "propio.pem"
    own.write_bytes(b"-----BEGIN CERTIFICATE-----\n(del operador)\n")
    monkeypatch.setenv("TEST_PROD_TLS_CERTIFICATE", str(own))
    profile = Profile.named("prodtest", env={"TEST_PROD_STACK_DIR": str(tmp_path / "pila")})
    made = tls.ensure_certificates(profile, tmp_path / "pila" / "haproxy" / "tls.pem")
    assert made.ca is None and made.bundle.read_bytes() == own.read_bytes()
    assert "REQUESTS_CA_BUNDLE" not in prod.prod_env(profile)
    assert not (tmp_path / "pila" / "tls").exists()


def test_a_zombie_started_by_another_process_counts_as_gone():
    """The production tests kill processes that `make test`'s own process started: such a process
    stays a zombie (its parent has not reaped it) and must not count as running."""
    import subprocess
    import time

    from tools.stack.runner import _alive

    # `sleep 0` becomes a child of a process that never reaps it (sh exec'ed into sleep 5).
    parent = subprocess.Popen(["sh", "-c", "sleep 0 & echo $!; exec sleep 5"], stdout=subprocess.PIPE, text=True)
    try:
        orphan = int(parent.stdout.readline())
        deadline = time.monotonic() + 5
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the state under test
        assert not _alive(orphan)
        assert _alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


def test_every_process_of_the_profile_gets_only_its_own_secrets(tmp_path):
    from tools.stack.confine import hidden_names

    profile = Profile.named("prod", env={"PROD_STACK_DIR": str(tmp_path)})
    secret = prod.load_secrets(profile)
    env = prod.prod_env(profile)
    rules = prod.confinements(profile)
    services = prod.prod_services(profile)
    assert {s.name for s in services} == set(rules)
    given = {name: set(rule.secrets) for name, rule in rules.items()}
    # Every generated secret serves some process; the admin password and the database passwords only theirs.
    assert set(prod.SECRET_NAMES) <= set().union(*given.values())
    assert {n for n, s in given.items() if "KC_BOOTSTRAP_ADMIN_PASSWORD" in s} == {"keycloak-a", "keycloak-b"}
    assert {n for n, s in given.items() if "REGISTRO_DB_PASSWORD" in s} == {"registro-a", "registro-b"}
    assert {n for n, s in given.items() if "REDIS_PASSWORD" in s} == {"registro-a", "registro-b"}
    for name in ("postgres", "redis", "mail", "balancer"):
        assert not given[name], name
    # The names removed carry every other secret, by name or inside a value (the Redis URL).
    hidden = hidden_names(env, rules["balancer"].secrets, secret)
    assert {"KC_BOOTSTRAP_ADMIN_PASSWORD", "REDIS_URL", "RATELIMIT_STORAGE_URI", "DATABASE_URL"} <= set(hidden)
    assert all(v not in value for k, value in env.items() if k not in hidden for v in secret.values())
    kept = set(env) - set(hidden_names(env, rules["registro-a"].secrets, secret))
    assert {"REDIS_URL", "DATABASE_URL", "REGISTRO_SECRET_KEY", "S3_SECRET_KEY"} <= kept
    assert not {"KC_BOOTSTRAP_ADMIN_PASSWORD", "KC_DB_PASSWORD", "MODULO_SECRET_KEY"} & kept
    # No secret value on any command line.
    for service in services:
        assert not any(v in arg for arg in service.argv for v in secret.values()), service.name


def test_a_confined_process_sees_its_secrets_only_and_writes_private_files(tmp_path):
    import os
    import subprocess

    from tools.stack.confine import Confinement, confine
    from tools.stack.services import Service

    script = 'env > "$1/env.txt"; mkdir "$1/folder"'
    service = Service(name="probe", argv=["sh", "-c", script, "probe", str(tmp_path)], ready_url=None)
    secret = {"MINE_PASSWORD": "m" * 30, "THEIRS_PASSWORD": "t" * 30}
    env = {"PATH": os.environ["PATH"], **secret, "THEIR_URL": f"redis://:{'t' * 30}@h/0", "PORT": "1"}
    confined = confine(service, Confinement(None, ("MINE_PASSWORD",)), env=env, secret_values=secret,
                       home=tmp_path / "home", log=tmp_path / "logs" / "probe.log")
    confined.prepare()
    subprocess.run(confined.argv, env=env, check=True)
    seen = dict(line.split("=", 1) for line in (tmp_path / "env.txt").read_text().splitlines())
    assert seen["MINE_PASSWORD"] == "m" * 30 and seen["PORT"] == "1" and seen["HOME"] == str(tmp_path / "home")
    assert "THEIRS_PASSWORD" not in seen and "THEIR_URL" not in seen
    assert stat.S_IMODE((tmp_path / "env.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "logs" / "probe.log").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700


def test_prod_runs_the_shared_postgres_server_unswitched_with_more_connections(tmp_path):
    # Confinement drops to the `postgres` user itself (setpriv); a runuser inside it would fail as non-root.
    from tools.stack.services import PG_BIN, postgres_service

    profile = Profile.named("prod", env={"PROD_STACK_DIR": str(tmp_path)})
    server = prod._services(profile)[0]
    assert server.name == "postgres"
    assert server.argv[0] == str(PG_BIN / "postgres") and "runuser" not in server.argv
    assert "max_connections=200" in server.argv
    local = postgres_service(profile)
    assert local.argv[:4] == ["runuser", "-u", "postgres", "--"] and local.argv[4:-1] == server.argv[:-1]
    assert server.stop_command == local.stop_command
