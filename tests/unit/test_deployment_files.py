"""docker-compose.yml, the Dockerfiles and deploy/haproxy.cfg follow the `prod` profile of
tools/stack (which `make test` runs): same Keycloak build and options, same services, same
environment names, same balancer; nothing sensitive on a host port; no secret in the files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from keycloak_ext.shipped_secrets import is_secret_name

from tools.stack import prod
from tools.stack.services import REGISTRO_PROCESS_ENV, ROLE_DATABASE_SQL
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
    from tools.stack import balancer

    rendered = prod.haproxy_config(prod.compose_layout(), rendered_by="tools/stack/prod.py (render_deploy)")
    assert (ROOT / "deploy" / "haproxy.cfg").read_text() == rendered, \
        "deploy/haproxy.cfg desactualizado: python -m tools.stack render-deploy"
    for status in balancer.ERROR_STATUSES:
        assert (ROOT / "deploy" / "haproxy-errors" / f"{status}.http").read_bytes() == balancer.error_page(status), \
            "deploy/haproxy-errors desactualizado: python -m tools.stack render-deploy"
    proxy = SERVICES["proxy"]
    assert proxy["networks"]["backend"]["ipv4_address"] == prod.COMPOSE_BALANCER_ADDRESS
    layout = prod.compose_layout()
    mounts = {m.rsplit(":", 2)[-2] for m in proxy["volumes"]}
    assert {"/usr/local/etc/haproxy/haproxy.cfg", layout.errors_dir, layout.certificate} <= mounts
    assert [a.replace("$$", "$") for a in proxy["command"]] == balancer.argv("/usr/local/etc/haproxy/haproxy.cfg")
    # Every port published is a front of the template; plain HTTP only as the redirect.
    binds = {layout.registro_bind, layout.keycloak_bind, layout.s3_bind, layout.registro_http_bind}
    assert {":" + p.split(":")[1] for p in proxy["ports"]} == binds


def test_nothing_sensitive_is_published_on_a_host_port():
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) <= {"proxy", "modulo"}, published
    assert not any(p.endswith(":8081") for p in published["proxy"]), "the admin front stays internal"


def test_compose_holds_no_secrets():
    for service in SERVICES.values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if key in prod.SECRET_NAMES or is_secret_name(key):
                # Required (`:?`), or optional and empty when unset (a previous key): never a default.
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*|:-)\}", str(value)), f"{key} must come from the environment"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "local-secret" not in text and "admin/admin" not in text


def test_every_secret_the_profile_generates_is_named_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in prod.SECRET_NAMES:
        assert "${" + name in text, f"{name} no aparece en docker-compose.yml"


def test_compose_makes_the_databases_with_the_profiles_sql():
    # The profile runs role-database.sql for each database (tools/stack/services.py, ensure_database);
    # compose's `databases` service runs databases.sql, which includes it once per database.
    sql = (ROOT / "deploy" / "postgres" / "databases.sql").read_text()
    assert ROLE_DATABASE_SQL.parent == ROOT / "deploy" / "postgres"
    assert re.findall(r"^\\set name (\w+)$", sql, re.M) == ["keycloak", prod.REGISTRO_DB]
    assert sql.count(f"\\ir {ROLE_DATABASE_SQL.name}") == 2
    databases = SERVICES["databases"]
    assert databases["command"][-1] == "/deploy/databases.sql"
    assert "./deploy/postgres:/deploy:ro" in databases["volumes"]
    for replica in prod.REGISTRO_REPLICAS:
        url = SERVICES[f"registro-{replica}"]["environment"]["DATABASE_URL"]
        assert url == prod.registro_database_url("postgres", 5432, "${REGISTRO_DB_PASSWORD:?set REGISTRO_DB_PASSWORD}")



# --- docker-compose.yml starts: its dependency graph and what each service is given ------------
def _resolved(value: object) -> str:
    """A compose value with ${NAME:-default} as its default and other references as nothing."""
    return re.sub(r"\$\{[A-Z0-9_]+(?::-([^}]*))?[^}]*\}", lambda m: m.group(1) or "", str(value))


def hosts_named(service: dict, names) -> set[str]:
    """The other services a service talks to, by the host names in its environment and command."""
    texts = [_resolved(v) for v in (service.get("environment") or {}).values()]
    command = service.get("command") or []
    texts += command if isinstance(command, list) else [command]
    return {name for name in names for text in texts
            if re.search(rf"(^|[/@]){re.escape(name)}(:\d+|/|$)", str(text))}


def start_graph(services: dict) -> dict[str, set[str]]:
    """Who must be up before whom: depends_on, and every service named as a host (a service that
    talks to another during its start, or at all, cannot be what that other one waits for)."""
    return {name: set(s.get("depends_on") or ()) | hosts_named(s, set(services) - {name})
            for name, s in services.items()}


def graph_problems(services: dict) -> list[str]:
    import graphlib

    graph = start_graph(services)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return [f"ciclo: {' → '.join(exc.args[1])}"]
    problems = []
    for name, service in services.items():
        waits_for, todo = set(), list(service.get("depends_on") or ())
        while todo:
            other = todo.pop()
            if other not in waits_for:
                waits_for.add(other)
                todo.extend(services[other].get("depends_on") or ())
        for host in hosts_named(service, set(services) - {name}) - waits_for:
            problems.append(f"{name} habla con {host} sin esperarlo (depends_on)")
    return problems


def test_compose_starts_without_a_cycle_and_each_service_waits_for_what_it_talks_to():
    assert graph_problems(SERVICES) == []


def test_the_dependency_check_finds_the_provisioning_deadlock():
    # provision talks to Keycloak through the balancer, the balancer waited for the replicas and the
    # replicas for provision: `docker compose up` never finished.
    deadlock = {
        "keycloak": {},
        "provision": {"environment": {"KEYCLOAK_URL": "http://proxy:8081"}, "depends_on": {"keycloak": {}}},
        "registro": {"environment": {"KEYCLOAK_URL": "http://proxy:8081"}, "depends_on": {"provision": {}}},
        "proxy": {"depends_on": ["keycloak", "registro"]},
    }
    (problem,) = graph_problems(deadlock)
    assert problem.startswith("ciclo:") and "proxy" in problem and "provision" in problem
    talks_first = {"db": {}, "app": {"environment": {"DATABASE_URL": "postgresql://u:${P:?}@db:5432/x"}}}
    assert graph_problems(talks_first) == ["app habla con db sin esperarlo (depends_on)"]


class Reads(dict):
    """An environment that remembers which names were asked for."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.names: set[str] = set()

    def get(self, key, default=None):
        self.names.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.names.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.names.add(key)
        return super().__contains__(key)


def _given_by_profile(profile: Profile, read) -> set[str]:
    """The names `read(env)` asks for that the profile sets (its value, not the code's default,
    is what production runs on), minus ports that only place processes on one machine."""
    env = Reads(prod.prod_env(profile))
    read(env)
    machine_ports = {k for k in profile.ports if k != "SMTP_PORT"}
    return (env.names & set(prod.prod_env(profile))) - machine_ports


def test_every_variable_the_profile_gives_a_process_is_given_by_compose(profile):
    from keycloak_ext import KeycloakSettings
    from keycloak_ext.shipped_secrets import _PLACEHOLDER
    from modulo_ejemplo.config import ModuloSettings
    from registro.config import Settings as RegistroSettings

    def env_of(name: str) -> set[str]:
        return set(SERVICES[name].get("environment") or {})

    # KeycloakSettings carries the bootstrap admin too (for provisioning): registro's service account never uses it.
    registro = _given_by_profile(profile, RegistroSettings.from_env) | \
        _given_by_profile(profile, KeycloakSettings.from_env) - {"KC_BOOTSTRAP_ADMIN_USERNAME", "KC_BOOTSTRAP_ADMIN_PASSWORD"}
    missing = registro - set(prod.REGISTRO_ENV_NAMES)
    assert not missing, f"registro lee {missing} del perfil: añádalas a REGISTRO_ENV_NAMES y a docker-compose.yml"
    for replica in prod.REGISTRO_REPLICAS:
        assert set(prod.REGISTRO_ENV_NAMES) <= env_of(f"registro-{replica}")
    modulo = _given_by_profile(profile, ModuloSettings.from_env)
    assert modulo <= env_of("modulo"), modulo - env_of("modulo")
    # The realm file's placeholders: Keycloak resolves them at import, provisioning on the live realm.
    realm = (ROOT / "realm-config" / "anam-realm.json").read_text()
    placeholders = {m.group(1) for m in _PLACEHOLDER.finditer(realm)} & set(prod.prod_env(profile))
    provision = placeholders | _given_by_profile(profile, KeycloakSettings.from_env)
    assert provision <= env_of("provision"), provision - env_of("provision")
    for node in prod.KC_NODES:
        assert placeholders <= env_of(f"keycloak-{node}"), placeholders - env_of(f"keycloak-{node}")
    # The bucket's one-shot reads these itself.
    bucket = set(re.findall(r"os\.environ(?:\.get\(|\[)\"([A-Z0-9_]+)\"", (ROOT / "tools/stack/bucket.py").read_text()))
    assert bucket and bucket <= env_of("bucket"), bucket - env_of("bucket")


# Secrets of the services compose runs that the profile runs differently (the images' own ways).
COMPOSE_SECRETS = {
    "postgres": {"POSTGRES_PASSWORD"}, "databases": {"POSTGRES_PASSWORD", "KC_DB_PASSWORD", "REGISTRO_DB_PASSWORD"},
    "redis": {"REDIS_PASSWORD"}, "proxy": set(), "prometheus": set(), "bucket": {"S3_ACCESS_KEY", "S3_SECRET_KEY"},
    "provision": {"KC_BOOTSTRAP_ADMIN_PASSWORD", "REGISTRO_CLIENT_SECRET", "REVISION_CLIENT_SECRET",
                  "MODULO_CLIENT_SECRET"},
}


def test_each_compose_service_gets_only_its_own_secrets(profile):
    rules = prod.confinements(profile)
    secret_names = set(prod.SECRET_NAMES) | {"POSTGRES_PASSWORD", "REGISTRO_SECRET_KEY_PREVIOUS"}
    for name, service in SERVICES.items():
        text = json.dumps(service.get("environment") or {})
        named = {n for n in secret_names if "${" + n + ":" in text or "${" + n + "}" in text}
        allowed = COMPOSE_SECRETS[name] if name in COMPOSE_SECRETS else set(rules[name].secrets)
        assert named <= allowed, f"{name} recibe {named - allowed}"
    assert "${S3_ACCESS_KEY" in json.dumps(SERVICES["s3"]["environment"])


def test_compose_services_restart_and_redis_keeps_its_password_off_the_command_line(profile):
    one_shots = {other for s in SERVICES.values() for other, how in (s.get("depends_on") or {}).items()
                 if isinstance(how, dict) and how.get("condition") == "service_completed_successfully"}
    assert one_shots == {"databases", "provision", "bucket"}
    for name, service in SERVICES.items():
        assert service.get("restart") == ("on-failure" if name in one_shots else "unless-stopped"), name
    for name, service in SERVICES.items():
        command = " ".join(service.get("command") or [])
        assert not any("${" + n in command for n in prod.SECRET_NAMES), f"{name}: un secreto en su línea de órdenes"
    redis = " ".join(SERVICES["redis"]["command"])
    assert "requirepass" not in redis.split("exec redis-server", 1)[1] and "unset REDIS_PASSWORD" in redis
    # The same connection budget as the profile's PostgreSQL.
    (postgres,) = [s for s in prod.prod_services(profile) if s.name == "postgres"]
    limit = next(a for a in postgres.argv if a.startswith("max_connections="))
    assert limit in SERVICES["postgres"]["command"]
