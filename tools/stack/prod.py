"""The production topology, run from the same binaries a server runs, on this machine.

    browsers ──► HAProxy ─┬─► registro-a (gunicorn, N workers) ─┐
                          ├─► registro-b (gunicorn, N workers) ─┼─► Redis, S3, SMTP
                          └─► keycloak-a ◄─Infinispan─► keycloak-b ─► PostgreSQL 15

PostgreSQL (initdb + postgres as the `postgres` user), Keycloak built once for production and
started `--optimized` as two nodes of one cluster (jdbc-ping discovery through the database),
two `registro` replicas, Redis, the S3 server and the mail catcher. Every secret is generated
once into the profile's data folder (mode 0600) and handed to the processes by environment.
The balancer connects to the backends from its own loopback address (BALANCER_ADDRESS), the only
address Keycloak and `registro` accept X-Forwarded-* from.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .profiles import CACHE, KEYCLOAK_VERSION, ROOT, Profile
from .balancer import BODY_LIMIT_BYTES, REGISTRO_HEALTH_PATH, BalancerLayout, haproxy_config, write_error_pages
from .balancer import argv as balancer_argv
from .balancer import server_states as balancer_server_states
from .balancer import stats_command as balancer_stats_command
from .confine import Confinement, confine, effective_user, running_as_root
from .tls import ensure_certificates, local_ca
from .services import (PG_BIN, REGISTRO_PROCESS_ENV, Service, _as_postgres, ensure_database, java_home, pg_dir,
                       postgres_service, redis_service)

if TYPE_CHECKING:
    from .runner import Stack

# Default ports: a block of their own (31000–31999) so a prod stack, its test twin and the
# development stacks can all run at once. Each one is overridable: PROD_<NAME> / TEST_PROD_<NAME>.
_BASE = {
    "REGISTRO_PORT": 31000,  # public: the balancer's HTTPS front for registro
    "MODULO_PORT": 31001,
    "REGISTRO_HTTP_PORT": 31002,  # public: plain HTTP, redirected to the HTTPS front
    "REGISTRO_A_PORT": 31010, "REGISTRO_B_PORT": 31011,
    "MAIL_WEB_PORT": 31025, "SMTP_PORT": 31026,
    "POSTGRES_PORT": 31032,
    "S3_PORT": 31070,
    "S3_PUBLIC_PORT": 31071,  # public: the balancer's HTTPS front to S3 (browsers' direct uploads)
    "REDIS_PORT": 31079,
    "KEYCLOAK_PORT": 31080,  # public: the balancer's HTTPS front for Keycloak (the `hostname`)
    "KEYCLOAK_HTTP_PORT": 31084,  # public: plain HTTP, redirected
    "KEYCLOAK_ADMIN_PORT": 31081,  # internal: admin console and the services' back channel
    "KEYCLOAK_A_PORT": 31082, "KEYCLOAK_B_PORT": 31083,
    "KEYCLOAK_A_MGMT_PORT": 31090, "KEYCLOAK_B_MGMT_PORT": 31091,
    # JGroups: the transport port; failure detection (FD_SOCK2) listens FD_PORT_OFFSET above it.
    "KEYCLOAK_A_CLUSTER_PORT": 31200, "KEYCLOAK_B_CLUSTER_PORT": 31201,
}
PROD_PORTS = {"prod": dict(_BASE), "prodtest": {k: v + 400 for k, v in _BASE.items()}}
FD_PORT_OFFSET = 100  # JGroups' default 50000 would push FD_SOCK2 past port 65535 from these ports
BALANCER_ADDRESS = os.environ.get("BALANCER_ADDRESS", "127.0.0.10")
KC_NODES = ("a", "b")
# How each registro replica runs (besides --bind); the Dockerfile's CMD carries the same options.
# The config file sets the JSON access log and its token-masking logger class.
GUNICORN_OPTIONS = ("-c", "python:registro.gunicorn_conf",  # JSON logs, multiprocess metrics (registro/gunicorn_conf.py)
                    "--threads", "4", "registro.wsgi:app")
# What the services read from the environment; docker-compose.yml gives registro the same names.
REGISTRO_ENV_NAMES = ("APP_ENV", "KEYCLOAK_URL", "KEYCLOAK_PUBLIC_URL", "KEYCLOAK_REALM", "REGISTRO_PUBLIC_URL",
                      "MODULO_PUBLIC_URL", "PORTAL_LOGIN_URL", "METRICS_ALLOW_FROM",
                      "REGISTRO_SECRET_KEY", "REGISTRO_CLIENT_SECRET", "REVISION_CLIENT_SECRET", "CAPTCHA_HMAC_KEY",
                      "S3_ENDPOINT_URL", "S3_PUBLIC_URL", "S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY", "S3_SECRET_KEY", "SMTP_HOST",
                      "SMTP_PORT", "REDIS_URL", "RATELIMIT_STORAGE_URI", "TRUSTED_PROXIES", "TRUSTED_PROXY_ADDRESSES",
                      "REGISTRO_DB_PASSWORD", "DATABASE_URL")
# docker-compose.yml: the balancer's fixed address on the backend network (what the backends trust).
COMPOSE_BALANCER_ADDRESS = "172.30.0.10"
REGISTRO_REPLICAS = ("a", "b")

# Generated once per stack; a real deployment keeps them in its secret store and passes the same
# names by environment (docker-compose.yml reads these names too).
SECRET_NAMES = ("KC_DB_PASSWORD", "KC_BOOTSTRAP_ADMIN_PASSWORD", "REGISTRO_CLIENT_SECRET",
                "REVISION_CLIENT_SECRET", "MODULO_CLIENT_SECRET", "REGISTRO_SECRET_KEY", "MODULO_SECRET_KEY",
                "CAPTCHA_HMAC_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY", "REDIS_PASSWORD", "REGISTRO_DB_PASSWORD")
# registro's own database and role, on Keycloak's PostgreSQL server (issue 20).
REGISTRO_DB = "registro"

# Options fixed into the optimized Keycloak build (stored in plain text: never a secret here).
KEYCLOAK_BUILD_OPTIONS = ("--db=postgres", "--health-enabled=true", "--metrics-enabled=true",
                          "--event-metrics-user-enabled=true")


def secrets_file(profile: Profile) -> Path:
    return profile.data / "secrets.env"


def load_secrets(profile: Profile) -> dict[str, str]:
    """The stack's secrets, made on first use and kept (0600) so restarts and restores reuse them.
    A name missing from the file (added in a later version) is generated and appended."""
    path = secrets_file(profile)
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                values[key] = value
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if missing:
        for name in missing:
            # S3 access keys are user names for versitygw: letters and digits only.
            values[name] = ("AU" + secrets.token_hex(10).upper()) if name == "S3_ACCESS_KEY" \
                else secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# Secretos de esta pila, generados una vez. No los copie al repositorio.\n")
            out.writelines(f"{k}={v}\n" for k, v in values.items())
        path.chmod(0o600)
    return values


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def https(port: int) -> str:
    return f"https://127.0.0.1:{port}"


def db_url(profile: Profile) -> str:
    return f"jdbc:postgresql://127.0.0.1:{profile.ports['POSTGRES_PORT']}/keycloak"


def registro_database_url(host: str, port: int | str, password: str) -> str:
    """SQLAlchemy's URL of registro's database (psycopg 3). The generated passwords are URL-safe."""
    return f"postgresql+psycopg://{REGISTRO_DB}:{password}@{host}:{port}/{REGISTRO_DB}"


def prod_env(profile: Profile) -> dict[str, str]:
    p = profile.ports
    s = load_secrets(profile)
    redis_url = f"redis://:{s['REDIS_PASSWORD']}@127.0.0.1:{p['REDIS_PORT']}/0"
    env = {k: str(v) for k, v in p.items()}
    env.update(s)
    env.update({
        "APP_ENV": "production",
        # Services reach Keycloak through the balancer's internal front (admin API and token
        # endpoint); browsers through the public one, which is also Keycloak's `hostname`.
        "KEYCLOAK_URL": url(p["KEYCLOAK_ADMIN_PORT"]),
        "KEYCLOAK_PUBLIC_URL": https(p["KEYCLOAK_PORT"]),
        "KEYCLOAK_REALM": "anam",
        "KC_BOOTSTRAP_ADMIN_USERNAME": "admin-anam",
        "REGISTRO_PUBLIC_URL": https(p["REGISTRO_PORT"]),
        "MODULO_PUBLIC_URL": url(p["MODULO_PORT"]),
        # The portal where people log in (the example module stands for it): approval emails and
        # Keycloak's account pages point there.
        "PORTAL_LOGIN_URL": url(p["MODULO_PORT"]) + "/entrar",
        # Who may read a replica's /metrics directly (never through the balancer, which denies it).
        "METRICS_ALLOW_FROM": "127.0.0.1/32",
        "S3_ENDPOINT_URL": url(p["S3_PORT"]),
        "S3_PUBLIC_URL": https(p["S3_PUBLIC_PORT"]),  # browsers send documents straight to S3, through the balancer
        "S3_BUCKET": "acceso-unico",
        "S3_REGION": "us-east-1",
        "SMTP_HOST": "127.0.0.1",
        "MAIL_API_URL": url(p["MAIL_WEB_PORT"]),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "TRUSTED_PROXIES": "1",
        "TRUSTED_PROXY_ADDRESSES": BALANCER_ADDRESS,
        "KC_DB_URL": db_url(profile),
        "KC_DB_USERNAME": "keycloak",
        "DATABASE_URL": registro_database_url("127.0.0.1", p["POSTGRES_PORT"], s["REGISTRO_DB_PASSWORD"]),
        "STACK_PROFILE": profile.name,
        "STACK_DIR": str(profile.data),
    })
    ca = local_ca(profile)
    if ca:
        # Clients of this stack (tests, tools, the operator's shell: `make env`) trust its local authority.
        env.update({"REQUESTS_CA_BUNDLE": str(ca), "SSL_CERT_FILE": str(ca)})
    return env


# --- PostgreSQL ------------------------------------------------------------------------------
def psql(profile: Profile, sql: str, database: str = "postgres") -> str:
    """Runs SQL as the cluster's superuser over its private socket (peer authentication)."""
    done = _as_postgres("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", str(pg_dir(profile)),
                        "-p", str(profile.ports["POSTGRES_PORT"]), "-d", database, "-f", "-", input=sql)
    if done.returncode != 0:
        raise RuntimeError(f"psql falló: {done.stderr.strip()}")
    return done.stdout


def ensure_databases(profile: Profile) -> None:
    """Keycloak's and registro's databases on the one server, each owned by its own role."""
    secret = load_secrets(profile)
    ensure_database(profile, secret["KC_DB_PASSWORD"], "keycloak")
    ensure_database(profile, secret["REGISTRO_DB_PASSWORD"], REGISTRO_DB)


def forget_cluster_members(profile: Profile) -> None:
    """Empties JGroups' discovery table before a cluster starts from nothing: rows left by nodes
    that died (or came back with a restored database) make a new node wait for a coordinator that
    does not exist (measured: ten JOIN timeouts, then two singleton clusters)."""
    psql(profile, "DO $$ BEGIN IF to_regclass('public.jgroups_ping') IS NOT NULL THEN "
                  "DELETE FROM jgroups_ping; END IF; END $$;", database="keycloak")


def wait_balanced(stack: "Stack", *servers: str, timeout_s: float = 60.0) -> None:
    """Waits until the balancer's own health checks see `servers` ("keycloak/kc-a", …) UP: a node
    that is ready gets traffic only from then on."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        states = server_states(stack.profile)
        if all(states.get(s) == "UP" for s in servers):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"el balanceador no ve activos {servers}: {states}")
        time.sleep(0.2)  # polling the balancer's state: its checks run every second


def keycloak_schema_exists(profile: Profile) -> bool:
    return psql(profile, "SELECT to_regclass('public.databasechangeloglock') IS NOT NULL;",
                database="keycloak").strip() == "t"


# --- Keycloak --------------------------------------------------------------------------------
def built_keycloak() -> Path:
    """The distribution built for production once (`kc.sh build`), cached like the zip; rebuilt
    only when the build options change."""
    home = CACHE / f"keycloak-prod-{KEYCLOAK_VERSION}" / f"keycloak-{KEYCLOAK_VERSION}"
    stamp = home.parent / "build-options"
    wanted = " ".join(KEYCLOAK_BUILD_OPTIONS)
    if stamp.exists() and stamp.read_text() == wanted and (home / "lib" / "quarkus").exists():
        return home
    work = home.parent.with_name(home.parent.name + f".building-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    with zipfile.ZipFile(CACHE / "keycloak" / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip") as zf:
        zf.extractall(work)
    built = work / f"keycloak-{KEYCLOAK_VERSION}"
    for script in (built / "bin").glob("*.sh"):
        script.chmod(0o755)
    print(f"construyendo Keycloak para producción ({wanted})…", flush=True)
    done = subprocess.run([str(built / "bin" / "kc.sh"), "build", *KEYCLOAK_BUILD_OPTIONS],
                          env={**os.environ, "JAVA_HOME": java_home()}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kc.sh build falló:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (work / "build-options").write_text(wanted)
    shutil.rmtree(home.parent, ignore_errors=True)
    work.rename(home.parent)
    return home


def node_home(profile: Profile, node: str) -> Path:
    return profile.data / f"keycloak-{node}"


def _prepare_node(profile: Profile, node: str) -> None:
    home = node_home(profile, node)
    if not (home / "bin" / "kc.sh").exists():
        # Hard links: each node gets its own data/ folder over the one cached build.
        shutil.copytree(built_keycloak(), home, copy_function=os.link, symlinks=True)
    if node == KC_NODES[0]:
        sys.path.insert(0, str(ROOT))
        from keycloak_ext.realm_files import write_import

        write_import(home / "data" / "import")


def keycloak_node(profile: Profile, node: str) -> Service:
    p = profile.ports
    n = node.upper()
    first = node == KC_NODES[0]
    argv = [str(node_home(profile, node) / "bin" / "kc.sh"), "start", "--optimized",
            "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={p[f'KEYCLOAK_{n}_PORT']}",
            f"--http-management-port={p[f'KEYCLOAK_{n}_MGMT_PORT']}",
            f"--hostname={https(p['KEYCLOAK_PORT'])}", f"--hostname-admin={url(p['KEYCLOAK_ADMIN_PORT'])}",
            "--proxy-headers=xforwarded", f"--proxy-trusted-addresses={BALANCER_ADDRESS}",
            f"--db-url={db_url(profile)}", "--db-username=keycloak",
            "--cache-embedded-network-bind-address=127.0.0.1",
            f"--cache-embedded-network-bind-port={p[f'KEYCLOAK_{n}_CLUSTER_PORT']}",
            f"--spi-cache-embedded--default--node-name=kc-{node}",
            f"--spi-theme--folder--dir={ROOT / 'themes'}",
            "--log-console-output=json"]
    if first:
        # One node imports the realm file into the empty database; an existing realm is skipped
        # and `python -m keycloak_ext provision` brings it up to date.
        argv.append("--import-realm")
    env = {
        "JAVA_HOME": java_home(),
        "JAVA_OPTS_KC_HEAP": os.environ.get("KC_HEAP", "-Xms256m -Xmx768m"),
        "JAVA_OPTS_APPEND": f"-Djgroups.fd.port-offset={FD_PORT_OFFSET}",
        # The database password by environment, never on the command line.
        "KC_DB_PASSWORD": "{KC_DB_PASSWORD}",
    }
    # Both nodes get the bootstrap admin: on an empty database whichever node takes the database
    # lock first creates the master realm, and only that node creates the admin (measured: with the
    # variables on one node only, the other sometimes wins and no admin exists).
    ports = (p[f"KEYCLOAK_{n}_PORT"], p[f"KEYCLOAK_{n}_MGMT_PORT"], p[f"KEYCLOAK_{n}_CLUSTER_PORT"])
    return Service(name=f"keycloak-{node}", argv=argv, env=env, ports=ports,
                   ready_url=f"{url(p[f'KEYCLOAK_{n}_MGMT_PORT'])}/health/ready",
                   prepare=lambda: _prepare_node(profile, node), ready_timeout_s=420)


# --- registro replicas, example module, balancer ---------------------------------------------
def registro_workers() -> int:
    return int(os.environ.get("REGISTRO_WORKERS", "3"))


def registro_threads() -> int:
    """Requests all replicas serve at once: what a crowd of slow clients would have to outnumber."""
    threads = int(GUNICORN_OPTIONS[GUNICORN_OPTIONS.index("--threads") + 1])
    return len(REGISTRO_REPLICAS) * registro_workers() * threads


def registro_replica(profile: Profile, replica: str) -> Service:
    port = profile.ports[f"REGISTRO_{replica.upper()}_PORT"]
    # prometheus_client's multiprocess files: registro.gunicorn_conf empties the folder at each start.
    metrics_dir = profile.data / "metrics" / f"registro-{replica}"
    return Service(
        name=f"registro-{replica}",
        argv=[str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN_OPTIONS],
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'services'}", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
             **REGISTRO_PROCESS_ENV,
             # gunicorn's own trust of X-Forwarded-Proto: the balancer only.
             "FORWARDED_ALLOW_IPS": BALANCER_ADDRESS,
             # Workers per replica (the Dockerfile reads the same variable through GUNICORN_CMD_ARGS).
             "GUNICORN_CMD_ARGS": f"--workers {registro_workers()}"},
        ready_url=url(port) + REGISTRO_HEALTH_PATH, ports=(port,), ready_timeout_s=90)


def profile_layout(profile: Profile) -> BalancerLayout:
    p = profile.ports
    folder = profile.data / "haproxy"
    return BalancerLayout(
        registro_bind=f"127.0.0.1:{p['REGISTRO_PORT']}", keycloak_bind=f"127.0.0.1:{p['KEYCLOAK_PORT']}",
        keycloak_admin_bind=f"127.0.0.1:{p['KEYCLOAK_ADMIN_PORT']}", s3_bind=f"127.0.0.1:{p['S3_PUBLIC_PORT']}",
        registro_http_bind=f"127.0.0.1:{p['REGISTRO_HTTP_PORT']}", keycloak_http_bind=f"127.0.0.1:{p['KEYCLOAK_HTTP_PORT']}",
        registro_url=https(p["REGISTRO_PORT"]), keycloak_url=https(p["KEYCLOAK_PORT"]),
        certificate=str(folder / "tls.pem"), errors_dir=str(folder / "errors"), source=BALANCER_ADDRESS,
        keycloak_servers=tuple((f"kc-{n}", f"127.0.0.1:{p[f'KEYCLOAK_{n.upper()}_PORT']}",
                                p[f"KEYCLOAK_{n.upper()}_MGMT_PORT"]) for n in KC_NODES),
        registro_servers=tuple((f"registro-{r}", f"127.0.0.1:{p[f'REGISTRO_{r.upper()}_PORT']}")
                               for r in REGISTRO_REPLICAS),
        s3_server=f"127.0.0.1:{p['S3_PORT']}", stats_socket=str(folder / "admin.sock"))


def stats_command(profile: Profile, command: str) -> str:
    """One command on the balancer's runtime API (e.g. `show stat`)."""
    return balancer_stats_command(profile.data / "haproxy" / "admin.sock", command)


def server_states(profile: Profile) -> dict[str, str]:
    """{"keycloak/kc-a": "UP", …} as the balancer sees its servers now."""
    return balancer_server_states(profile.data / "haproxy" / "admin.sock")


# Inside the haproxy image (docker-compose.yml mounts them there).
COMPOSE_HAPROXY_DIR = "/usr/local/etc/haproxy"


def compose_layout() -> BalancerLayout:
    """The balancer of docker-compose.yml: same template, the compose network's names; the public
    URLs come from the proxy's environment, the certificate from the operator (TLS_CERTIFICATE)."""
    return BalancerLayout(
        registro_bind=":5443", keycloak_bind=":8443", keycloak_admin_bind=":8081", s3_bind=":9443",
        registro_http_bind=":5080", registro_url="${REGISTRO_PUBLIC_URL}", keycloak_url="${KEYCLOAK_PUBLIC_URL}",
        certificate=f"{COMPOSE_HAPROXY_DIR}/tls.pem", errors_dir=f"{COMPOSE_HAPROXY_DIR}/errors", source=None,
        keycloak_servers=tuple((f"kc-{n}", f"keycloak-{n}:8080", 9000) for n in KC_NODES),
        registro_servers=tuple((f"registro-{r}", f"registro-{r}:5000") for r in REGISTRO_REPLICAS),
        s3_server="s3:9000", resolver="127.0.0.11:53")  # Docker's embedded DNS


def render_deploy() -> Path:
    """Writes deploy/haproxy.cfg and its error pages for docker-compose.yml (a unit test keeps them
    equal to this)."""
    target = ROOT / "deploy" / "haproxy.cfg"
    target.parent.mkdir(exist_ok=True)
    target.write_text(haproxy_config(compose_layout(), rendered_by="tools/stack/prod.py (render_deploy)"))
    write_error_pages(ROOT / "deploy" / "haproxy-errors")
    return target


def _balancer_answers(profile: Profile) -> bool:
    """The public Keycloak front answers through TLS (any certificate: only liveness is asked here)."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(https(profile.ports["KEYCLOAK_PORT"]) + "/realms/anam/.well-known/openid-configuration",
                                    timeout=2, context=context) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def balancer(profile: Profile) -> Service:
    folder = profile.data / "haproxy"
    cfg = folder / "haproxy.cfg"
    layout = profile_layout(profile)

    def prepare() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        ensure_certificates(profile, Path(layout.certificate))
        write_error_pages(Path(layout.errors_dir))
        cfg.write_text(haproxy_config(layout, rendered_by="tools/stack/prod.py (balancer)"))
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"configuración de HAProxy inválida:\n{check.stdout}{check.stderr}")

    p = profile.ports
    return Service(name="balancer", argv=balancer_argv(cfg), prepare=prepare,
                   ports=tuple(p[k] for k in ("REGISTRO_PORT", "REGISTRO_HTTP_PORT", "KEYCLOAK_PORT",
                                              "KEYCLOAK_HTTP_PORT", "KEYCLOAK_ADMIN_PORT", "S3_PUBLIC_PORT")),
                   ready_url=None, ready_check=lambda: _balancer_answers(profile), ready_timeout_s=60)


# What each process may see and who it runs as (tools/stack/confine.py). Keycloak resolves the
# clients' secrets in the realm file it imports (it keeps them in its database anyway); the names an
# operator may add (a previous signing key, the relay's password) are listed where they are read.
KEYCLOAK_SECRETS = ("KC_DB_PASSWORD", "KC_BOOTSTRAP_ADMIN_PASSWORD", "REGISTRO_CLIENT_SECRET",
                    "REVISION_CLIENT_SECRET", "MODULO_CLIENT_SECRET", "SMTP_PASSWORD")
REGISTRO_SECRETS = ("REGISTRO_SECRET_KEY", "REGISTRO_SECRET_KEY_PREVIOUS", "RESPONSIVA_MAC_KEY",
                    "REGISTRO_CLIENT_SECRET", "REVISION_CLIENT_SECRET", "CAPTCHA_HMAC_KEY", "S3_ACCESS_KEY",
                    "S3_SECRET_KEY", "REDIS_PASSWORD", "REGISTRO_DB_PASSWORD", "SMTP_PASSWORD")


def confinements(profile: Profile) -> dict[str, Confinement]:
    d = profile.data
    return {
        # PostgreSQL and Redis read no secret from the environment (Redis' password is in its 0600 file).
        "postgres": Confinement("postgres"),
        "redis": Confinement("redis", owned=(d / "redis",)),
        "s3": Confinement("acceso-s3", ("S3_ACCESS_KEY", "S3_SECRET_KEY"), owned=(d / "s3", d / "meta-s3")),
        "mail": Confinement("acceso-correo", owned=(d / "mail",)),
        **{f"keycloak-{n}": Confinement("acceso-keycloak", KEYCLOAK_SECRETS, owned=(node_home(profile, n) / "data",))
           for n in KC_NODES},
        **{f"registro-{r}": Confinement("acceso-registro", REGISTRO_SECRETS, owned=(d / "metrics",))
           for r in REGISTRO_REPLICAS},
        "modulo": Confinement("acceso-modulo", ("MODULO_CLIENT_SECRET", "MODULO_SECRET_KEY")),
        "balancer": Confinement("haproxy", owned=(d / "haproxy",)),
    }


def prod_services(profile: Profile) -> list[Service]:
    """Every process of the profile, each confined to its own secrets, user and files."""
    secret = load_secrets(profile)
    env = {**os.environ, **prod_env(profile)}
    rules = confinements(profile)
    return [confine(s, rules[s.name], env=env, secret_values=secret, home=profile.data / "home" / s.name,
                    log=profile.data / "logs" / f"{s.name}.log") for s in _services(profile)]


def service_users(profile: Profile) -> dict[str, str | None]:
    """Who each process runs as (None: the stack's own user; see confine.effective_user)."""
    rules = confinements(profile)
    return {s.name: effective_user(rules[s.name], s.argv[0]) for s in _services(profile)}


def _services(profile: Profile) -> list[Service]:
    from .services import mail_service, s3_service, modulo_service

    p = profile.ports
    secret = load_secrets(profile)
    mail = mail_service(profile)
    # The inbox in a folder of its own (SQLite writes its journal beside the file), 0700.
    inbox = profile.data / "mail" / "mail.sqlite"
    mail.argv[mail.argv.index("--db") + 1] = str(inbox)
    # maildump's daemon library sets umask 0 and SQLite then makes the file 0644; an existing (empty)
    # file keeps its mode, and SQLite gives its journal the database's.
    mail.prepare = lambda: (inbox.parent.mkdir(parents=True, exist_ok=True),
                            os.close(os.open(inbox, os.O_WRONLY | os.O_CREAT, 0o600)), inbox.chmod(0o600))
    s3 = s3_service(profile)
    # versitygw sets each object's mode itself (0644 by default, whatever the umask): documents 0600.
    at = s3.argv.index("posix") + 1
    s3.argv[at:at] = ["--file-perms", "0600", "--dir-perms", "0700"]
    return [
        # confine() drops to the `postgres` user itself (setpriv), so no runuser inside it.
        postgres_service(profile, max_connections=200, switch_user=False),
        redis_service(profile, p["REDIS_PORT"], password=secret["REDIS_PASSWORD"], durable=True),
        s3,
        mail,
        *(keycloak_node(profile, n) for n in KC_NODES),
        *(registro_replica(profile, r) for r in REGISTRO_REPLICAS),
        modulo_service(profile),
        balancer(profile),
    ]


def up(stack: "Stack") -> None:
    """Start order: database first, both Keycloak nodes together (they form the cluster through
    it), then the replicas and, last, the balancer in front of the ready backends."""
    profile = stack.profile
    # The services' own users reach their folders through it; its listing and secrets.env stay private.
    profile.data.chmod(0o711)
    if running_as_root():
        kept = [name for name, user in service_users(profile).items() if user is None]
        if kept:
            print(f"aviso: {', '.join(kept)} corren como root: su intérprete está donde otros usuarios no llegan "
                  f"(p. ej. bajo /root); cree los entornos con un Python accesible (rm -rf .venv "
                  f".cache/maildump-venv && make setup PYTHON=/usr/bin/python3)", file=sys.stderr, flush=True)
    stack.start("postgres")
    for name in ("redis", "s3", "mail"):
        stack.start(name)
    stack.wait_ready("postgres")
    ensure_databases(profile)
    built_keycloak()
    fresh = not keycloak_schema_exists(profile)
    if not fresh and not any(stack.pid_of(f"keycloak-{n}") for n in KC_NODES):
        forget_cluster_members(profile)
    for node in KC_NODES:
        stack.start(f"keycloak-{node}")
        if fresh:
            # On an empty database two nodes race to create Liquibase's own tables (measured: a
            # duplicate-key error kills the loser); the first node lays the schema down alone.
            stack.wait_ready(f"keycloak-{node}")
            fresh = False
    stack.wait_ready("s3")
    stack._run_python("-m", "tools.stack.bucket")
    stack.wait_ready("redis")
    stack.wait_ready("mail")
    for node in KC_NODES:
        stack.wait_ready(f"keycloak-{node}")
    stack.start("balancer")
    stack.wait_ready("balancer")
    wait_balanced(stack, *(f"keycloak/kc-{n}" for n in KC_NODES))
    stack._run_python("-m", "keycloak_ext", "provision")
    for replica in REGISTRO_REPLICAS:
        stack.start(f"registro-{replica}")
    stack.start("modulo")
    for replica in REGISTRO_REPLICAS:
        stack.wait_ready(f"registro-{replica}")
    stack.wait_ready("modulo")
    wait_balanced(stack, *(f"registro/registro-{r}" for r in REGISTRO_REPLICAS))


# The balancer's name for each backend process (restart waits until it takes the process back in).
BALANCED = {**{f"keycloak-{n}": f"keycloak/kc-{n}" for n in KC_NODES},
            **{f"registro-{r}": f"registro/registro-{r}" for r in REGISTRO_REPLICAS}}


def restart(stack: "Stack", name: str) -> None:
    """One process of a running stack stopped and started again: nothing else is touched, nothing
    is provisioned; a backend counts as back once the balancer's own checks take it in."""
    from .runner import StackError

    if name not in stack.services:
        raise StackError(f"no hay un servicio «{name}»; los servicios son: {', '.join(stack.services)}")
    stack.stop(name)
    stack.start(name)
    stack.wait_ready(name)
    if name in BALANCED and stack.pid_of("balancer"):
        wait_balanced(stack, BALANCED[name])


def data_paths(profile: Profile) -> list[Path]:
    """Everything `reset` empties; secrets.env (a restore needs the same secrets) and the local
    certificate authority (tls/: browsers that trust it keep trusting) stay."""
    d = profile.data
    return [pg_dir(profile), d / "s3", d / "meta-s3", d / "mail", d / "mail.sqlite", d / "redis", d / "metrics",
            d / "haproxy", d / "logs", d / "home", *(node_home(profile, n) for n in KC_NODES)]
