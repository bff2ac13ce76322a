"""docker-compose.yml, the Dockerfiles and deploy/haproxy.cfg follow the `prod` profile of
tools/stack (which `make test` runs): same Keycloak build and options, same services, same
environment names, same balancer; nothing sensitive on a host port; no secret in the files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tools.stack import prod
from tools.stack.services import REGISTRO_PROCESS_ENV
from tools.stack.services import services_for as stack_services
from tools.stack.profiles import KEYCLOAK_VERSION, Profile

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# Options for two nodes sharing this machine (ports, loopback binding, the theme folder of the
# checkout): in containers each node has its own address, the default ports and the baked-in theme.
ONE_HOST_ONLY = {"http-host", "http-port", "http-management-port", "cache-embedded-network-bind-address",
                 "cache-embedded-network-bind-port", "spi-theme--folder--dir"}
# Same option, a value that names this machine's addresses: compose sets its own.
SAME_OPTION_OWN_VALUE = {"db-url", "hostname", "hostname-admin", "proxy-trusted-addresses"}


@pytest.fixture
def profile(tmp_path) -> Profile:
    return Profile.named("prod", env={"PROD_STACK_DIR": str(tmp_path)})


def kc_env_name(option: str) -> str:
    return "KC_" + option.upper().replace("-", "_")


def options_of(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) if "=" in a else (a[2:], "true") for a in argv if a.startswith("--"))


def test_compose_runs_every_process_of_the_profile(profile):
    expected = {"balancer": "proxy"}
    for service in prod.prod_services(profile):
        assert expected.get(service.name, service.name) in SERVICES, f"{service.name} falta en docker-compose.yml"


def test_keycloak_is_built_with_the_same_options_and_version():
    dockerfile = (ROOT / "deploy" / "keycloak.Dockerfile").read_text()
    assert re.findall(r"^FROM \S+:(\S+)", dockerfile, re.M) == [KEYCLOAK_VERSION] * 2
    (build,) = re.findall(r"kc\.sh build (.*)$", dockerfile, re.M)
    assert tuple(build.split()) == prod.KEYCLOAK_BUILD_OPTIONS
    assert KEYCLOAK_VERSION in (ROOT / "Makefile").read_text()


def test_compose_keycloak_nodes_start_optimized_with_the_profiles_runtime_options(profile):
    nodes = [SERVICES[f"keycloak-{n}"] for n in prod.KC_NODES]
    for index, (node, service) in enumerate(zip(prod.KC_NODES, nodes)):
        argv = prod.keycloak_node(profile, node).argv
        assert argv[1:3] == ["start", "--optimized"] and service["command"][:2] == ["start", "--optimized"]
        assert ("--import-realm" in service["command"]) == ("--import-realm" in argv) == (index == 0)
        env = service["environment"]
        for option, value in options_of(argv[3:]).items():
            if option in ("optimized", "import-realm") or option in ONE_HOST_ONLY:
                continue
            name = kc_env_name(option)
            if option in SAME_OPTION_OWN_VALUE:
                assert name in env, f"{name} falta en keycloak-{node}"
            else:
                assert str(env.get(name)) == value, f"{name}: {env.get(name)!r} ≠ {value!r}"
        # The trusted proxy is exactly the balancer's address, as in the profile.
        assert env["KC_PROXY_TRUSTED_ADDRESSES"] == prod.COMPOSE_BALANCER_ADDRESS
        # Whichever node creates the master realm creates the admin: every node must know it.
        assert "KC_BOOTSTRAP_ADMIN_PASSWORD" in env


def test_registro_replicas_get_the_same_environment_names_and_gunicorn_options(profile):
    replicas = [SERVICES[f"registro-{r}"] for r in prod.REGISTRO_REPLICAS]
    assert len(replicas) == len(prod.REGISTRO_REPLICAS) == 2
    env = prod.prod_env(profile)
    for service in replicas:
        missing = [n for n in prod.REGISTRO_ENV_NAMES if n not in service["environment"]]
        assert not missing, f"faltan en docker-compose.yml: {missing}"
        assert service["environment"]["TRUSTED_PROXY_ADDRESSES"] == prod.COMPOSE_BALANCER_ADDRESS
        assert service["environment"]["APP_ENV"] == env["APP_ENV"] != "local"
    assert all(n in env for n in prod.REGISTRO_ENV_NAMES)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    assert cmd[:2] == ["gunicorn", "--bind"] and tuple(cmd[3:]) == prod.GUNICORN_OPTIONS
    replica = prod.registro_replica(profile, "a")
    assert tuple(replica.argv[3:]) == prod.GUNICORN_OPTIONS
    assert "PROMETHEUS_MULTIPROC_DIR" in (ROOT / "Dockerfile").read_text() and "PROMETHEUS_MULTIPROC_DIR" in replica.env
    # Memory kept flat under uploads by two malloc arenas, in every way registro is run.
    local = next(s for s in stack_services(Profile.named("test", env={})) if s.name == "registro")
    for name, value in REGISTRO_PROCESS_ENV.items():
        assert replica.env[name] == local.env[name] == value
        assert f"{name}={value}" in (ROOT / "Dockerfile").read_text()


def test_compose_balancer_config_is_the_profiles_template():
    rendered = prod.haproxy_config(prod.compose_layout())
    assert (ROOT / "deploy" / "haproxy.cfg").read_text() == rendered, \
        "deploy/haproxy.cfg desactualizado: python -m tools.stack render-deploy"
    proxy = SERVICES["proxy"]
    assert proxy["networks"]["backend"]["ipv4_address"] == prod.COMPOSE_BALANCER_ADDRESS


def test_nothing_sensitive_is_published_on_a_host_port():
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) <= {"proxy", "modulo"}, published
    assert not any(p.endswith(":8081") for p in published["proxy"]), "the admin front stays internal"


def test_compose_holds_no_secrets():
    for service in SERVICES.values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if key in prod.SECRET_NAMES or any(word in key for word in ("SECRET", "PASSWORD")):
                assert str(value).startswith("${") and ":?" in str(value), f"{key} must come from the environment"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "local-secret" not in text and "admin/admin" not in text


def test_every_secret_the_profile_generates_is_named_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in prod.SECRET_NAMES:
        assert "${" + name in text, f"{name} no aparece en docker-compose.yml"


def test_compose_makes_the_databases_with_the_profiles_sql():
    # The profile runs role-database.sql for each database (tools/stack/prod.py, ensure_database);
    # compose's `databases` service runs databases.sql, which includes it once per database.
    sql = (ROOT / "deploy" / "postgres" / "databases.sql").read_text()
    assert prod.ROLE_DATABASE_SQL.parent == ROOT / "deploy" / "postgres"
    assert re.findall(r"^\\set name (\w+)$", sql, re.M) == ["keycloak", prod.REGISTRO_DB]
    assert sql.count(f"\\ir {prod.ROLE_DATABASE_SQL.name}") == 2
    databases = SERVICES["databases"]
    assert databases["command"][-1] == "/deploy/databases.sql"
    assert "./deploy/postgres:/deploy:ro" in databases["volumes"]
    for replica in prod.REGISTRO_REPLICAS:
        url = SERVICES[f"registro-{replica}"]["environment"]["DATABASE_URL"]
        assert url == prod.registro_database_url("postgres", 5432, "${REGISTRO_DB_PASSWORD:?set REGISTRO_DB_PASSWORD}")
