"""The secrets this repository ships as local defaults, and the start-up check that refuses them.

Every value listed here is public (anyone can read it in the repository): a deployment that keeps
one hands its clients, signing keys or admin account to anyone. So `registro`, the example module
and provisioning call `refuse_shipped_secrets()` before they start; it raises unless the
environment declares itself a local stack with `APP_ENV=local` (the `run` and `test` stacks do).

The list is the union of:
- `LOCAL_DEFAULTS`: the defaults the code uses for a local stack (the config modules read theirs
  from here, so a default cannot exist in code without being refused elsewhere);
- every `${NAME:default}` placeholder of a secret-looking NAME in `realm-config/anam-realm.json`
  (parsed at start, so a new client secret added to the realm cannot be forgotten here).
A unit test scans the repository for other secret-looking defaults and fails if one is missing.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

LOCAL_ENV_VAR = "APP_ENV"
LOCAL_ENV_VALUE = "local"

LOCAL_DEFAULTS: dict[str, str] = {
    "REGISTRO_CLIENT_SECRET": "registro-local-secret",
    "REVISION_CLIENT_SECRET": "revision-local-secret",
    "MODULO_CLIENT_SECRET": "modulo-local-secret",
    "KC_BOOTSTRAP_ADMIN_PASSWORD": "admin",
    "S3_ACCESS_KEY": "acceso-unico-local",
    "S3_SECRET_KEY": "acceso-unico-local-secret",
}

# Names whose value is a credential or a signing key.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|HMAC|(^|_)KEY$)")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
REALM_FILE = Path(__file__).resolve().parent.parent / "realm-config" / "anam-realm.json"


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def realm_secret_placeholders(realm_file: Path = REALM_FILE) -> dict[str, str]:
    """`{NAME: default}` for every secret-looking placeholder of the realm file ("" when it has
    no default or an empty one)."""
    if not realm_file.exists():
        return {}
    found: dict[str, str] = {}
    for name, default in _PLACEHOLDER.findall(realm_file.read_text("utf-8")):
        if is_secret_name(name):
            found[name] = found.get(name) or default
    return found


def shipped_values(realm_file: Path = REALM_FILE) -> dict[str, set[str]]:
    """Every value shipped in the repository for each secret variable."""
    shipped: dict[str, set[str]] = {}
    for name, value in LOCAL_DEFAULTS.items():
        shipped.setdefault(name, set()).add(value)
    for name, default in realm_secret_placeholders(realm_file).items():
        if default:
            shipped.setdefault(name, set()).add(default)
    return shipped


class InsecureSettings(RuntimeError):
    """A secret is missing or has a value published in the repository, outside a local stack."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "configuración insegura: " + "; ".join(problems)
            + f". Defina un valor propio para cada una (solo una pila local, {LOCAL_ENV_VAR}={LOCAL_ENV_VALUE}, "
              "puede usar los valores de ejemplo)")

    @property
    def variables(self) -> list[str]:
        return [p.split(" ", 1)[0] for p in self.problems]


def is_local(env: Mapping[str, str]) -> bool:
    return env.get(LOCAL_ENV_VAR, "").strip().lower() == LOCAL_ENV_VALUE


def refuse_shipped_secrets(env: Mapping[str, str], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """Raises InsecureSettings naming every `required` variable that is unset, and every `required`
    or `optional` one whose value is shipped in the repository — unless `APP_ENV=local`.

    A value shipped for any variable is refused for every one (the realm's client secret reused
    as a signing key is just as public)."""
    if is_local(env):
        return
    published = set().union(*shipped_values().values())
    problems: list[str] = []
    for name in required:
        value = env.get(name, "")
        if not value.strip():
            problems.append(f"{name} no está definida")
        elif value in published:
            problems.append(f"{name} tiene un valor publicado en el repositorio")
    for name in optional:
        value = env.get(name, "")
        if value and value in published:
            problems.append(f"{name} tiene un valor publicado en el repositorio")
    if problems:
        raise InsecureSettings(problems)
