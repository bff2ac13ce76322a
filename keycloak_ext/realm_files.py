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
BUILT_IN_CLIENTS = ("account", "account-console")

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
    return settle_conditional_flows(
        json.loads(resolve_placeholders((config_dir / "anam-realm.json").read_text("utf-8"), env)))


def settle_conditional_flows(realm: dict) -> dict:
    """A CONDITIONAL subflow left with no enabled authenticator besides its conditions fails every
    login that meets the condition (Keycloak 26 answers "Usuario o contraseña incorrectos"): with
    REVISOR_OTP=DISABLED the reviewers' OTP subflow is exactly that. Such a subflow is disabled
    itself, so turning the second factor off skips it instead of locking reviewers out."""
    flows = {f["alias"]: f for f in realm.get("authenticationFlows") or []}
    for flow in flows.values():
        for ex in flow.get("authenticationExecutions", []):
            if not ex.get("authenticatorFlow") or ex.get("requirement") != "CONDITIONAL":
                continue
            sub = flows.get(ex.get("flowAlias"), {})
            steps = [e for e in sub.get("authenticationExecutions", [])
                     if not str(e.get("authenticator", "")).startswith("conditional-")]
            if steps and all(e.get("requirement") == "DISABLED" for e in steps):
                ex["requirement"] = "DISABLED"
    return realm


def load_user_profile(config_dir: Path = REALM_CONFIG_DIR) -> dict:
    # The profile refers to message keys like ${username}; it is never placeholder-resolved.
    return json.loads((config_dir / "user-profile.json").read_text("utf-8"))


def render_import(config_dir: Path = REALM_CONFIG_DIR) -> dict:
    """The realm file Keycloak imports at start, placeholders left for Keycloak to resolve."""
    realm = json.loads((config_dir / "anam-realm.json").read_text("utf-8"))
    # The flows' requirements (REVISOR_OTP) are no secrets: resolved here so the subflow they leave
    # empty is disabled in the imported file too, not only by provisioning.
    if realm.get("authenticationFlows"):
        realm["authenticationFlows"] = json.loads(resolve_placeholders(json.dumps(realm["authenticationFlows"])))
        settle_conditional_flows(realm)
    # A realm file that lists client scopes replaces Keycloak's built-in ones (basic, profile,
    # email, roles…) instead of adding to them; ours are created by provisioning right after.
    realm.pop("clientScopes", None)
    # Likewise a listed `requiredActions` would replace Keycloak's defaults (update password, verify
    # email…) with the few the file declares; provisioning keeps those few enabled instead.
    realm.pop("requiredActions", None)
    # Keycloak's built-in clients (account, account-console) are listed only for the settings we
    # change on them (their base URL: the ANAM portal); importing such a partial entry would replace
    # the built-in client, so provisioning applies them to the live realm instead.
    realm["clients"] = [c for c in realm.get("clients", []) if c["clientId"] not in BUILT_IN_CLIENTS]
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
