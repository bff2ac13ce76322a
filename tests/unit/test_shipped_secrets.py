"""No default secret outside a local stack: every value shipped in the repository, set in an
environment that does not declare APP_ENV=local, stops the service that reads it at start."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from keycloak_ext import __main__ as kc_cli
from keycloak_ext.shipped_secrets import (InsecureSettings, LOCAL_DEFAULTS, is_secret_name,
                                          realm_secret_placeholders, refuse_shipped_secrets, shipped_values)
from modulo_ejemplo.config import ModuloSettings
from registro.config import OPTIONAL_SECRETS, REQUIRED_SECRETS, Settings
from registro.secret_keys import SIGNING_KEYS

ROOT = Path(__file__).resolve().parents[2]
ALL_NAMES = sorted(set(shipped_values()) | set(REQUIRED_SECRETS) | set(OPTIONAL_SECRETS)
                   | {"MODULO_SECRET_KEY", "MODULO_CLIENT_SECRET"} | set(realm_secret_placeholders()))


def own_secrets() -> dict[str, str]:
    """A production-like environment: every secret set to a value of its own (signing keys long enough to
    hold 32 random bytes: registro/secret_keys.py)."""
    return {name: f"propio-{name.lower()}-9c1f2e7a" + (f"-{hashlib.sha256(name.encode()).hexdigest()}"
                                                         if name in SIGNING_KEYS else "") for name in ALL_NAMES}


# Each consumer: (what reads the variable at start, the variables it checks)
CONSUMERS = {
    "registro": (lambda env: Settings.from_env(env), set(REQUIRED_SECRETS) | set(OPTIONAL_SECRETS)),
    "modulo_ejemplo": (lambda env: ModuloSettings.from_env(env), {"MODULO_SECRET_KEY", "MODULO_CLIENT_SECRET"}),
    "provisioning": (lambda env: kc_cli.refuse_provisioning_defaults(env),
                     {"KC_BOOTSTRAP_ADMIN_PASSWORD"} | set(realm_secret_placeholders())),
}

SHIPPED = sorted((name, value) for name, values in shipped_values().items() for value in values)


def test_the_list_holds_the_realm_defaults_and_the_code_defaults():
    shipped = shipped_values()
    for name in ("REGISTRO_CLIENT_SECRET", "REVISION_CLIENT_SECRET", "MODULO_CLIENT_SECRET"):
        assert shipped[name] >= {LOCAL_DEFAULTS[name]}
    assert "admin" in shipped["KC_BOOTSTRAP_ADMIN_PASSWORD"]
    assert {"acceso-unico-local"} <= shipped["S3_ACCESS_KEY"] and {"acceso-unico-local-secret"} <= shipped["S3_SECRET_KEY"]


@pytest.mark.parametrize("name,value", SHIPPED)
def test_each_shipped_value_stops_every_service_that_reads_it(name, value):
    readers = [c for c, (_, names) in CONSUMERS.items() if name in names]
    assert readers, f"{name} is shipped but no service checks it"
    for consumer in readers:
        start, _ = CONSUMERS[consumer]
        env = {**own_secrets(), name: value}
        with pytest.raises(InsecureSettings) as caught:
            start(env)
        assert caught.value.variables == [name], consumer
        assert name in str(caught.value) and "publicado en el repositorio" in str(caught.value)


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_own_secrets_start_and_a_missing_one_is_named(consumer):
    start, names = CONSUMERS[consumer]
    start(own_secrets())  # no exception
    required = [n for n in names if n not in OPTIONAL_SECRETS and realm_secret_placeholders().get(n, "x") != ""]
    for name in required:
        env = own_secrets()
        del env[name]
        with pytest.raises(InsecureSettings) as caught:
            start(env)
        assert caught.value.variables == [name] and f"{name} no está definida" in str(caught.value)


def test_a_shipped_value_is_refused_under_any_name():
    env = {**own_secrets(), "CAPTCHA_HMAC_KEY": LOCAL_DEFAULTS["REGISTRO_CLIENT_SECRET"]}
    with pytest.raises(InsecureSettings) as caught:
        Settings.from_env(env)
    assert caught.value.variables == ["CAPTCHA_HMAC_KEY"]


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_a_local_stack_accepts_the_shipped_defaults(consumer):
    start, _ = CONSUMERS[consumer]
    start({"APP_ENV": "local", "REGISTRO_SECRET_KEY": "k", "MODULO_SECRET_KEY": "k"})
    start({"APP_ENV": "local", **{n: v for n, v in LOCAL_DEFAULTS.items()}, "REGISTRO_SECRET_KEY": "k",
           "MODULO_SECRET_KEY": "k"})


def test_any_other_app_env_is_not_local():
    for value in ("", "production", "prod", "locally"):
        with pytest.raises(InsecureSettings):
            refuse_shipped_secrets({"APP_ENV": value}, required=["X_SECRET"])


def test_a_new_secret_placeholder_in_the_realm_is_refused_without_touching_the_code(tmp_path):
    realm = tmp_path / "anam-realm.json"
    realm.write_text('{"secret": "${NUEVO_CLIENT_SECRET:nuevo-local-secret}", "url": "${ALGO_URL:http://x}"}')
    assert realm_secret_placeholders(realm) == {"NUEVO_CLIENT_SECRET": "nuevo-local-secret"}
    assert shipped_values(realm)["NUEVO_CLIENT_SECRET"] == {"nuevo-local-secret"}


# Defaults written anywhere the services, tools or deployment files read the environment:
# `env.get("NAME", "value")`, `"NAME": "value"`, `${NAME:value}` / `${NAME:-value}`, `NAME=value` (shell, Makefile, env files).
_DEFAULT_PATTERNS = (
    re.compile(r"""get\(\s*["']([A-Z][A-Z0-9_]+)["']\s*,\s*["']([^"']+)["']"""),
    re.compile(r"""["']([A-Z][A-Z0-9_]+)["']\s*:\s*["']([^"'{}]+)["']"""),
    re.compile(r"""\$\{([A-Z][A-Z0-9_]+):-?([^}?]*)\}"""),  # `${NAME:-}`: an empty default, not "-"
    re.compile(r"""^\s*(?:export\s+)?([A-Z][A-Z0-9_]+)\s*[:?]?=\s*([^\s$#]+)\s*$""", re.M),
)
_SCANNED = ("keycloak_ext", "services", "tools", "realm-config", "deploy", "docker-compose.yml", "Dockerfile",
            "Makefile")


def _scanned_files():
    for entry in _SCANNED:
        path = ROOT / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            if f.suffix in (".pyc", ".pdf", ".png", ".jpg", ".ttf", ".woff2") or "__pycache__" in f.parts:
                continue
            try:
                yield f, f.read_text("utf-8")
            except UnicodeDecodeError:
                continue


def test_every_secret_default_written_in_the_repository_is_in_the_list():
    published = set().union(*shipped_values().values())
    missing = []
    for path, text in _scanned_files():
        for pattern in _DEFAULT_PATTERNS[:3] if path.suffix == ".py" else _DEFAULT_PATTERNS:
            for name, value in pattern.findall(text):
                if is_secret_name(name) and value.strip() and value not in published:
                    missing.append(f"{path.relative_to(ROOT)}: {name}={value}")
    assert not missing, "shipped secret defaults not refused in production:\n" + "\n".join(missing)


def test_provisioning_cli_stops_naming_the_variable(monkeypatch, capsys):
    for name, value in own_secrets().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.setenv("REVISION_CLIENT_SECRET", LOCAL_DEFAULTS["REVISION_CLIENT_SECRET"])
    assert kc_cli.main(["provision"]) == 4
    err = capsys.readouterr().err
    assert "REVISION_CLIENT_SECRET tiene un valor publicado en el repositorio" in err


def _production_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "APP_ENV" and k not in ALL_NAMES}
    env.update(own_secrets())
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'services'}"
    env.update(changes)
    return env


def test_gunicorn_stops_at_start_naming_the_shipped_secret(tmp_path):
    env = _production_env(REGISTRO_CLIENT_SECRET=LOCAL_DEFAULTS["REGISTRO_CLIENT_SECRET"],
                          PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"), REGISTRO_BIND="127.0.0.1:0")
    done = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                           "registro.wsgi:app"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    line = next(line for line in done.stderr.splitlines() if "REGISTRO_CLIENT_SECRET" in line)
    record = json.loads(line)  # the refusal is a log line like every other: JSON
    assert record["level"] == "CRITICAL"
    assert "REGISTRO_CLIENT_SECRET tiene un valor publicado en el repositorio" in record["message"]


def test_the_example_module_stops_at_start_naming_the_missing_key():
    env = _production_env()
    del env["MODULO_SECRET_KEY"]
    done = subprocess.run([sys.executable, "-c", "import modulo_ejemplo.wsgi"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "MODULO_SECRET_KEY no está definida" in done.stderr
