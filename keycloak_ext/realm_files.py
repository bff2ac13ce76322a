"""Reads `realm-config/` and renders what Keycloak imports.

`anam-realm.json` and `user-profile.json` are the sources a person edits. Keycloak's
import wants the user profile embedded as a JSON string inside a component, so
`render_import` builds that file; provisioning a live realm uses the same sources.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

REALM_CONFIG_DIR = Path(__file__).resolve().parent.parent / "realm-config"
USER_PROFILE_PROVIDER = "org.keycloak.userprofile.UserProfileProvider"

# Keycloak's placeholder syntax in import files: ${VAR} or ${VAR:default}.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def resolve_placeholders(text: str, env: dict[str, str] | None = None) -> str:
    """Resolve placeholders the way Keycloak's import does; unknown ones without a default stay."""
    env = os.environ if env is None else env

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        return default if default is not None else match.group(0)

    return _PLACEHOLDER.sub(replace, text)


def load_realm(config_dir: Path = REALM_CONFIG_DIR, env: dict[str, str] | None = None) -> dict:
    return json.loads(resolve_placeholders((config_dir / "anam-realm.json").read_text("utf-8"), env))


def load_user_profile(config_dir: Path = REALM_CONFIG_DIR) -> dict:
    # The profile refers to message keys like ${username}; it is never placeholder-resolved.
    return json.loads((config_dir / "user-profile.json").read_text("utf-8"))


def render_import(config_dir: Path = REALM_CONFIG_DIR) -> dict:
    """The realm file Keycloak imports at start, placeholders left for Keycloak to resolve."""
    realm = json.loads((config_dir / "anam-realm.json").read_text("utf-8"))
    # A realm file that lists client scopes replaces Keycloak's built-in ones (basic, profile,
    # email, roles…) instead of adding to them; ours are created by provisioning right after.
    realm.pop("clientScopes", None)
    profile = load_user_profile(config_dir)
    realm.setdefault("components", {})[USER_PROFILE_PROVIDER] = [
        {
            "providerId": "declarative-user-profile",
            "subComponents": {},
            "config": {"kc.user.profile.config": [json.dumps(profile, ensure_ascii=False)]},
        }
    ]
    return realm


def write_import(target_dir: Path, config_dir: Path = REALM_CONFIG_DIR) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "anam-realm.json"
    target.write_text(json.dumps(render_import(config_dir), ensure_ascii=False, indent=2), "utf-8")
    return target
