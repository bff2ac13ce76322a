"""Applies `realm-config/` to a live realm, idempotently, and reports drift.

`--import-realm` skips a realm that already exists, so a change to the realm file
would never reach a running installation without this. Each difference between
the files and the live realm becomes a `Change`; `check` lists them, `provision`
applies them. Only what the files declare is compared: settings an operator made
elsewhere are left alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from .catalog import CONSOLE_STAFF_ROLE, REVIEWER_ROLE, STATUSES, SUPERVISOR_ROLE, USER_TYPES, group_of
from .errors import IdentityUnavailable
from .realm_files import load_realm, load_user_profile

_NESTED = ("roles", "groups", "clients", "clientScopes", "users", "components", "smtpServer",
           "authenticationFlows", "authenticatorConfig", "browserFlow", "requiredActions")

# --- least privilege of the service account --------------------------------------------------------
# `registro-service` holds only view-users, query-users and view-realm as roles. What it may
# change comes from fine-grained admin permissions v2 (realm `adminPermissionsEnabled`): manage,
# map roles and set passwords on users — except the protected accounts (reviewers, supervisors,
# holders of any realm-management role, itself), where a resource-specific NEGATIVE permission overrides
# the all-users one — map only the user-type roles of catalog.py, and manage the membership of
# only the user-type groups (a user create with `"groups": [...]` checks manage-membership on
# each group; it holds no Users `manage-group-membership`, so it cannot move an existing account
# into or out of any group at all). So a leaked client secret cannot make a reviewer, take over
# one (nor a supervisor), or grant any administration role. The user-type groups are kept carrying exactly their
# role (_group_changes removes anything else mapped to them): membership of one must never
# grant more than the user type.
# Provisioning (and add-reviewer) run with the bootstrap admin, at deploy time only.
SERVICE_CLIENT = "registro-service"
ADMIN_PERMISSIONS_CLIENT = "admin-permissions"
ALLOW_POLICY = "registro-service: la cuenta de servicio"
DENY_POLICY = "registro-service: excepto la cuenta de servicio"
ALL = "todos"
PROTECTED_USERS = "cuentas protegidas"
USER_TYPE_ROLES = "roles de tipo de usuario"
USER_TYPE_GROUPS = "grupos de tipo de usuario"


@dataclass(frozen=True)
class AdminPermission:
    name: str
    resource_type: str
    resources: str  # ALL, PROTECTED_USERS, USER_TYPE_ROLES or USER_TYPE_GROUPS
    scopes: tuple[str, ...]
    policy: str


ADMIN_PERMISSIONS: tuple[AdminPermission, ...] = (
    AdminPermission("registro-service: gestiona solicitantes", "Users", ALL,
                    ("view", "manage", "map-roles", "reset-password"), ALLOW_POLICY),
    AdminPermission("registro-service: no toca cuentas protegidas", "Users", PROTECTED_USERS,
                    ("manage", "map-roles", "reset-password", "impersonate", "manage-group-membership"), DENY_POLICY),
    AdminPermission("registro-service: asigna tipos de usuario", "Roles", USER_TYPE_ROLES, ("map-role",), ALLOW_POLICY),
    AdminPermission("registro-service: crea cuentas en los grupos de tipo de usuario", "Groups", USER_TYPE_GROUPS,
                    ("manage-membership",), ALLOW_POLICY),
)


# Conflicts (409) tolerated while converging: each is a change another provisioning made first, and
# each re-plan leaves fewer of them (the whole plan of a new realm is well under this).
MAX_CONFLICTS = 20


@dataclass(frozen=True)
class Change:
    description: str
    apply: Callable[[], Any]


def differs(desired: Any, live: Any) -> bool:
    """True when `live` lacks something `desired` declares (dicts compared as subsets)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return True
        return any(differs(v, live.get(k)) for k, v in desired.items())
    if desired == "" and live is None:  # Keycloak does not store empty strings
        return False
    if isinstance(desired, list) and isinstance(live, list):
        return len(desired) != len(live) or any(differs(d, l) for d, l in zip(desired, live))
    return str(desired).lower() != str(live).lower() if isinstance(desired, bool) else desired != live


class RealmProvisioner:
    def __init__(self, admin: KeycloakAdmin, realm: dict | None = None, profile: dict | None = None) -> None:
        self.admin = admin
        self.realm = realm if realm is not None else load_realm()
        self.profile = profile if profile is not None else load_user_profile()
        self.name = self.realm["realm"]

    # --- public -----------------------------------------------------------------------------
    def plan(self) -> list[Change]:
        try:
            if not self._realm_exists():
                return [Change(f"crear el reino {self.name}", self._create_realm)]
            return [
                *self._settings_changes(),
                *self._profile_changes(),
                *self._role_changes(),
                *self._group_changes(),
                *self._scope_changes(),
                *self._client_changes(),
                *self._service_account_changes(),
                *self._flow_changes(),
                *self._required_action_changes(),
                *self._least_privilege_changes(),
            ]
        except KeycloakError as exc:
            raise IdentityUnavailable(f"Keycloak: {exc}") from exc

    def protect_accounts(self) -> list[str]:
        """Applies only the least-privilege changes (e.g. a new reviewer joins the accounts the
        service account may not touch); what `add-reviewer` runs after granting the role."""
        def plan() -> list[Change]:
            try:
                return self._least_privilege_changes()
            except KeycloakError as exc:
                raise IdentityUnavailable(f"Keycloak: {exc}") from exc

        return self._converge(plan, "los permisos de la cuenta de servicio no convergen")

    def apply(self) -> list[str]:
        """Applies the plan until nothing is left: some changes only show once others are made
        (a new realm's profile and roles, a new scope's attachment to the clients)."""
        return self._converge(self.plan, "el reino no converge con realm-config/")

    @staticmethod
    def _converge(plan: Callable[[], list[Change]], failure: str) -> list[str]:
        """Up to three passes of plan-and-apply. A 409 means another provisioning (a second
        `provision`, `add-reviewer` while `make run` starts) made the same change first: the plan is
        stale, so it is made again from the live realm instead of failing; a conflict does not use
        up a pass, but only so many are taken before giving up."""
        applied: list[str] = []
        passes = conflicts = 0
        while passes < 3:
            changes = plan()
            if not changes:
                return applied
            try:
                for change in changes:
                    change.apply()
                    applied.append(change.description)
            except KeycloakError as exc:
                if exc.response_code != 409:
                    raise
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    raise IdentityUnavailable(f"{failure}: {MAX_CONFLICTS} conflictos seguidos con otra "
                                              f"provisión en curso ({change.description})") from exc
                continue
            passes += 1
        raise IdentityUnavailable(f"{failure}: " + "; ".join(c.description for c in plan()))

    # --- steps --------------------------------------------------------------------------------
    def _realm_exists(self) -> bool:
        return any(r["realm"] == self.name for r in self.admin.get_realms())

    def _create_realm(self) -> None:
        payload = {k: v for k, v in self.realm.items() if k not in ("users", "clientScopes")}
        self.admin.create_realm(payload)

    def _settings_changes(self) -> list[Change]:
        desired = {k: v for k, v in self.realm.items() if k not in _NESTED}
        if "smtpServer" in self.realm:
            desired["smtpServer"] = self.realm["smtpServer"]
        live = self.admin.get_realm(self.name)
        # Keycloak masks a stored SMTP password on read, so it cannot be compared.
        comparable = {k: ({**v, "password": live.get(k, {}).get("password")} if k == "smtpServer" and live.get(k, {}).get("password") else v)
                      for k, v in desired.items()}
        wrong = sorted(k for k, v in comparable.items() if differs(v, live.get(k)))
        if not wrong:
            return []
        return [Change(f"ajustes del reino: {', '.join(wrong)}",
                       lambda: self.admin.update_realm(self.name, {k: desired[k] for k in wrong}))]

    def _profile_changes(self) -> list[Change]:
        live = self.admin.get_realm_users_profile()
        live_attrs = {a["name"]: a for a in live.get("attributes", [])}
        wrong = [a["name"] for a in self.profile["attributes"] if differs(a, live_attrs.get(a["name"]))]
        live_groups = {g["name"]: g for g in live.get("groups", [])}
        wrong += [f"grupo {g['name']}" for g in self.profile.get("groups", []) if differs(g, live_groups.get(g["name"]))]
        if not wrong:
            return []

        def put_profile() -> None:
            merged = dict(live)
            declared = {a["name"] for a in self.profile["attributes"]}
            merged["attributes"] = list(self.profile["attributes"]) + [
                a for a in live.get("attributes", []) if a["name"] not in declared]
            gdeclared = {g["name"] for g in self.profile.get("groups", [])}
            merged["groups"] = list(self.profile.get("groups", [])) + [
                g for g in live.get("groups", []) if g["name"] not in gdeclared]
            self.admin.update_realm_users_profile(merged)

        return [Change(f"perfil de usuario: {', '.join(wrong)}", put_profile)]

    def _role_changes(self) -> list[Change]:
        """Declared roles are created or updated; a declared composite's missing parts are added (Keycloak
        reads `composites` only at import, and a role's representation does not list them)."""
        live = {r["name"]: r for r in self.admin.get_realm_roles(brief_representation=False)}
        changes = []
        for role in self.realm["roles"]["realm"]:
            name = role["name"]
            bare = {k: v for k, v in role.items() if k not in ("composite", "composites")}
            if name not in live:
                changes.append(Change(f"crear rol {name}", lambda r=bare: self.admin.create_realm_role(r, skip_exists=True)))
            elif differs(bare, live[name]):
                changes.append(Change(f"actualizar rol {name}",
                                      lambda r=bare, l=live[name]: self.admin.update_realm_role(r["name"], {**l, **r})))
            parts = (role.get("composites") or {}).get("realm", [])
            if parts:
                have = set() if name not in live or not live[name].get("composite") else \
                    {r["name"] for r in self.admin.get_composite_realm_roles_of_role(name)}
                missing = [p for p in parts if p not in have]
                if missing:
                    changes.append(Change(f"el rol {name} incluye {', '.join(missing)}",
                                          lambda n=name, m=missing: self.admin.add_composite_realm_roles_to_role(
                                              n, [self._role_ref(r) for r in m])))
        return changes

    def _group_changes(self) -> list[Change]:
        """Top-level groups of the file (the user-type groups): created when missing, with their
        realm roles; a missing role is mapped; a role or client role mapped to such a group but not
        declared is removed (the service account may put new accounts in these groups, so they must
        never carry more than the file says)."""
        live = {g["name"]: g for g in self.admin.get_groups()}
        changes: list[Change] = []
        for group in self.realm.get("groups", []):
            name, roles = group["name"], list(group.get("realmRoles", []))
            if name not in live:
                changes.append(Change(f"crear grupo {name} con {', '.join(roles) or 'ningún rol'}",
                                      lambda n=name, r=roles: self._create_group(n, r)))
                continue
            group_id = live[name]["id"]
            mappings = self._group_role_mappings(group_id)
            have = {r["name"]: r for r in mappings.get("realmMappings") or []}
            missing = [r for r in roles if r not in have]
            if missing:
                changes.append(Change(f"roles {', '.join(missing)} en el grupo {name}",
                                      lambda i=group_id, m=missing: self.admin.assign_group_realm_roles(
                                          i, [self._role_ref(r) for r in m])))
            extra = [r for n, r in have.items() if n not in roles]
            if extra:
                changes.append(Change(f"quitar roles {', '.join(sorted(r['name'] for r in extra))} del grupo {name}",
                                      lambda i=group_id, e=extra: self.admin.delete_group_realm_roles(
                                          i, [{"id": r["id"], "name": r["name"]} for r in e])))
            declared_clients = group.get("clientRoles") or {}
            for client in (mappings.get("clientMappings") or {}).values():
                extra_client = [r for r in client.get("mappings", [])
                                if r["name"] not in declared_clients.get(client["client"], [])]
                if extra_client:
                    changes.append(Change(
                        f"quitar roles de {client['client']} del grupo {name}",
                        lambda i=group_id, c=client["id"], e=extra_client: self.admin.delete_group_client_roles(
                            i, c, [{"id": r["id"], "name": r["name"]} for r in e])))
        return changes

    def _group_role_mappings(self, group_id: str) -> dict:
        # python-keycloak reads realm and client mappings of a group one client at a time; Keycloak
        # answers all of them in one call.
        response = self.admin.connection.raw_get(f"admin/realms/{self.name}/groups/{group_id}/role-mappings")
        if response.status_code >= 400:
            raise KeycloakError(error_message=response.text, response_code=response.status_code)
        return response.json()

    def _role_ref(self, name: str) -> dict:
        role = self.admin.get_realm_role(name)
        return {"id": role["id"], "name": role["name"]}

    def _create_group(self, name: str, roles: list[str]) -> None:
        # POST /groups ignores `realmRoles`: the roles are mapped right after, in the same change.
        group_id = self.admin.create_group({"name": name}, skip_exists=True)
        if group_id is None:
            group_id = next(g["id"] for g in self.admin.get_groups() if g["name"] == name)
        if roles:
            self.admin.assign_group_realm_roles(group_id, [self._role_ref(r) for r in roles])

    def _scope_changes(self) -> list[Change]:
        live = {s["name"]: s for s in self.admin.get_client_scopes()}
        changes = []
        for scope in self.realm.get("clientScopes", []):
            name = scope["name"]
            if name not in live:
                changes.append(Change(f"crear ámbito {name}", lambda s=scope: self.admin.create_client_scope(s, skip_exists=True)))
                continue
            scope_id = live[name]["id"]
            bare = {k: v for k, v in scope.items() if k != "protocolMappers"}
            if differs(bare, live[name]):
                changes.append(Change(f"actualizar ámbito {name}",
                                      lambda i=scope_id, b=bare, l=live[name]: self.admin.update_client_scope(i, {**l, **b})))
            mappers = {m["name"]: m for m in self.admin.get_mappers_from_client_scope(scope_id)}
            for mapper in scope.get("protocolMappers", []):
                current = mappers.get(mapper["name"])
                if current is None:
                    changes.append(Change(f"crear mapeador {name}/{mapper['name']}",
                                          lambda i=scope_id, m=mapper: self.admin.add_mapper_to_client_scope(i, m)))
                elif differs(mapper, current):
                    changes.append(Change(f"actualizar mapeador {name}/{mapper['name']}",
                                          lambda i=scope_id, m=mapper, c=current: self.admin.update_mapper_in_client_scope(
                                              i, c["id"], {**c, **m})))
        return changes

    def _client_changes(self) -> list[Change]:
        live = {c["clientId"]: c for c in self.admin.get_clients()}
        scope_ids = {s["name"]: s["id"] for s in self.admin.get_client_scopes()}
        changes = []
        for client in self.realm.get("clients", []):
            cid = client["clientId"]
            bare = {k: v for k, v in client.items() if k not in ("defaultClientScopes", "optionalClientScopes", "secret")}
            if cid not in live:
                changes.append(Change(f"crear cliente {cid}", lambda c=client: self.admin.create_client(c, skip_exists=True)))
                continue
            internal_id = live[cid]["id"]
            if differs(bare, live[cid]):
                changes.append(Change(f"actualizar cliente {cid}",
                                      lambda i=internal_id, b=bare, l=live[cid]: self.admin.update_client(i, {**l, **b})))
            if "secret" in client and live[cid].get("secret") not in (None, client["secret"]) and not client["secret"].startswith("**"):
                changes.append(Change(f"secreto del cliente {cid}",
                                      lambda i=internal_id, s=client["secret"]: self.admin.update_client(i, {"secret": s})))
            attached = {s["name"] for s in self.admin.get_client_default_client_scopes(internal_id)}
            for scope_name in client.get("defaultClientScopes", []):
                if scope_name not in attached and scope_name in scope_ids:
                    changes.append(Change(
                        f"ámbito por defecto {scope_name} en {cid}",
                        lambda i=internal_id, s=scope_ids[scope_name]: self.admin.add_client_default_client_scope(
                            i, s, {"realm": self.name, "client": i, "clientScopeId": s})))
        return changes

    # --- authentication flows (the reviewers' conditional OTP) -----------------------------------
    def _flow_changes(self) -> list[Change]:
        """Top-level flows declared in the file are created when missing, rebuilt when their shape
        differs and get their requirements updated (e.g. REVISOR_OTP); then `browserFlow` is bound."""
        flows = self.realm.get("authenticationFlows") or []
        by_alias = {f["alias"]: f for f in flows}
        live_aliases = {f["alias"]: f for f in self.admin.get_authentication_flows()}
        configs = {c["alias"]: c for c in self.realm.get("authenticatorConfig", [])}
        changes: list[Change] = []
        for flow in (f for f in flows if f.get("topLevel")):
            alias = flow["alias"]
            if alias not in live_aliases:
                changes.append(Change(f"crear flujo {alias}", lambda f=flow: self._build_flow(f, by_alias)))
                continue
            desired = self._flattened(flow, by_alias)
            live = self.admin.get_authentication_flow_executions(alias)
            shape = [(d["level"], d["name"]) for d in desired]
            live_shape = [(e["level"], e.get("providerId") if not e.get("authenticationFlow") else e["displayName"])
                          for e in live]
            if shape != live_shape:
                changes.append(Change(f"rehacer flujo {alias}",
                                      lambda f=flow, i=live_aliases[alias]["id"]: self._rebuild_flow(f, i, by_alias)))
                continue
            for d, e in zip(desired, live):
                if d["requirement"] != e["requirement"]:
                    changes.append(Change(f"requisito de {e['displayName']} en {alias}: {d['requirement']}",
                                          lambda a=alias, e=e, r=d["requirement"]: self.admin.update_authentication_flow_executions(
                                              {**e, "requirement": r}, a)))
                if d.get("config"):
                    changes += self._config_changes(alias, e, configs[d["config"]])
        browser = self.realm.get("browserFlow")
        if browser and self.admin.get_realm(self.name).get("browserFlow") != browser:
            changes.append(Change(f"flujo del navegador: {browser}",
                                  lambda: self.admin.update_realm(self.name, {"browserFlow": browser})))
        return changes

    def _config_changes(self, flow_alias: str, execution: dict, declared: dict) -> list[Change]:
        """An execution's configuration (a condition's role, the subflow it checks) as the file declares it:
        the flow's shape can stay the same while what its condition tests changes."""
        config_id = execution.get("authenticationConfig")
        wanted = {"alias": declared["alias"], "config": declared["config"]}
        if not config_id:
            return [Change(f"configuración {declared['alias']} en {flow_alias}",
                           lambda e=execution["id"], w=wanted: self.admin.create_execution_config(e, w))]
        live = self.admin.get_authenticator_config(config_id)
        if live.get("alias") == declared["alias"] and not differs(declared["config"], live.get("config") or {}):
            return []
        return [Change(f"configuración {declared['alias']} en {flow_alias}",
                       lambda i=config_id, w=wanted: self.admin.update_authenticator_config({"id": i, **w}, i))]

    def _required_action_changes(self) -> list[Change]:
        """The required actions the flows rely on stay enabled: CONFIGURE_TOTP (a reviewer's first
        login) and webauthn-register (the console's "Registrar llave de acceso" asks Keycloak for it
        as an application-initiated action, `kc_action`). Only what the file declares is compared."""
        live = {a["alias"]: a for a in self.admin.get_required_actions()}
        changes = []
        for action in self.realm.get("requiredActions") or []:
            alias = action["alias"]
            if alias not in live:
                changes.append(Change(f"registrar la acción requerida {alias}",
                                      lambda a=action: self._register_required_action(a)))
            elif differs(action, live[alias]):
                changes.append(Change(f"acción requerida {alias}: {', '.join(k for k in action if k != 'alias')}",
                                      lambda a=action, l=live[alias]: self.admin.update_required_action(
                                          a["alias"], {**l, **a})))
        return changes

    def _register_required_action(self, action: dict) -> None:
        # A provider Keycloak ships but the realm has not registered (a realm made before it existed).
        url = f"admin/realms/{self.name}/authentication/register-required-action"
        response = self.admin.connection.raw_post(url, data=json.dumps({"providerId": action["alias"],
                                                                        "name": action["alias"]}))
        if response.status_code >= 400:
            raise KeycloakError(error_message=response.text, response_code=response.status_code)
        live = self.admin.get_required_action_by_alias(action["alias"]) or {}
        self.admin.update_required_action(action["alias"], {**live, **action})

    @staticmethod
    def _flattened(flow: dict, by_alias: dict, level: int = 0) -> list[dict]:
        """The declared tree in the order and shape Keycloak lists a flow's executions."""
        out = []
        for ex in sorted(flow.get("authenticationExecutions", []), key=lambda e: e.get("priority", 0)):
            if ex.get("authenticatorFlow"):
                out.append({"level": level, "name": ex["flowAlias"], "requirement": ex["requirement"]})
                out += RealmProvisioner._flattened(by_alias[ex["flowAlias"]], by_alias, level + 1)
            else:
                out.append({"level": level, "name": ex["authenticator"], "requirement": ex["requirement"],
                            "config": ex.get("authenticatorConfig")})
        return out

    def _build_flow(self, flow: dict, by_alias: dict) -> None:
        self.admin.create_authentication_flow({"alias": flow["alias"], "description": flow.get("description", ""),
                                               "providerId": flow.get("providerId", "basic-flow"),
                                               "topLevel": True, "builtIn": False})
        self._add_executions(flow, by_alias)

    def _rebuild_flow(self, flow: dict, flow_id: str, by_alias: dict) -> None:
        # A bound flow cannot be deleted: bind the built-in one meanwhile, then bind back.
        if self.admin.get_realm(self.name).get("browserFlow") == flow["alias"]:
            self.admin.update_realm(self.name, {"browserFlow": "browser"})
        self.admin.delete_authentication_flow(flow_id)
        self._build_flow(flow, by_alias)
        if self.realm.get("browserFlow") == flow["alias"]:
            self.admin.update_realm(self.name, {"browserFlow": flow["alias"]})

    def _add_executions(self, flow: dict, by_alias: dict) -> None:
        configs = {c["alias"]: c for c in self.realm.get("authenticatorConfig", [])}
        parent = flow["alias"]
        for ex in sorted(flow.get("authenticationExecutions", []), key=lambda e: e.get("priority", 0)):
            if ex.get("authenticatorFlow"):
                sub = by_alias[ex["flowAlias"]]
                self.admin.create_authentication_flow_subflow(
                    {"alias": sub["alias"], "description": sub.get("description", ""), "provider": "registration-page-form",
                     "type": sub.get("providerId", "basic-flow")}, parent)
            else:
                self.admin.create_authentication_flow_execution({"provider": ex["authenticator"]}, parent)
            created = [e for e in self.admin.get_authentication_flow_executions(parent) if e["level"] == 0][-1]
            if created["requirement"] != ex["requirement"]:
                self.admin.update_authentication_flow_executions({**created, "requirement": ex["requirement"]}, parent)
            if ex.get("authenticatorConfig"):
                config = configs[ex["authenticatorConfig"]]
                self.admin.create_execution_config(created["id"], {"alias": config["alias"], "config": config["config"]})
            if ex.get("authenticatorFlow"):
                self._add_executions(by_alias[ex["flowAlias"]], by_alias)

    def _service_account_changes(self) -> list[Change]:
        """Adds the declared realm-management roles. Removing undeclared ones (manage-users on a
        realm provisioned before least privilege) is left to _least_privilege_changes, which does
        it only once the permissions that replace them are in place."""
        changes = []
        management_id = self.admin.get_client_id("realm-management")
        for user in self.realm.get("users", []):
            owner = user.get("serviceAccountClientId")
            if not owner:
                continue
            client_internal = self.admin.get_client_id(owner)
            if client_internal is None:
                continue
            account = self.admin.get_client_service_account_user(client_internal)
            have = {r["name"] for r in self.admin.get_client_roles_of_user(account["id"], management_id)}
            for role_name in user.get("clientRoles", {}).get("realm-management", []):
                if role_name not in have:
                    changes.append(Change(
                        f"rol realm-management/{role_name} para {owner}",
                        lambda a=account["id"], r=role_name: self.admin.assign_client_role(
                            a, management_id, [self.admin.get_client_role(management_id, r)])))
        return changes


    # --- least privilege (fine-grained admin permissions v2) -------------------------------------
    def _authz(self, method: str, path: str, payload: Any = None) -> Any:
        """The admin-permissions client's authorization endpoints (python-keycloak has no
        wrapper for the v2 permission model)."""
        client = self.admin.get_client_id(ADMIN_PERMISSIONS_CLIENT)
        url = f"admin/realms/{self.name}/clients/{client}/authz/resource-server/{path}"
        conn = self.admin.connection
        if method == "GET":
            response = conn.raw_get(url)
        elif method == "POST":
            response = conn.raw_post(url, data=json.dumps(payload))
        else:
            response = conn.raw_put(url, data=json.dumps(payload))
        if response.status_code >= 400:
            raise KeycloakError(error_message=response.text, response_code=response.status_code)
        return response.json() if response.content else None

    def _service_account_id(self) -> str | None:
        client = self.admin.get_client_id(SERVICE_CLIENT)
        return self.admin.get_client_service_account_user(client)["id"] if client else None

    def protected_user_ids(self) -> set[str]:
        """Accounts the service must never change: the console's staff (reviewers and supervisors: a
        supervisor-only account, made in the admin console, was once open to a password reset with the
        service's secret), holders of any realm-management role (a realm administrator) and the service
        account itself."""
        ids: set[str] = set()
        for staff_role in (REVIEWER_ROLE, SUPERVISOR_ROLE):
            ids.update(member["id"] for member in self.admin.get_realm_role_members(staff_role))
        management = self.admin.get_client_id("realm-management")
        for role in self.admin.get_client_roles(management):
            for member in self.admin.get_client_role_members(management, role["name"]):
                ids.add(member["id"])
        service = self._service_account_id()
        if service:
            ids.add(service)
        return ids

    def _least_privilege_changes(self) -> list[Change]:
        if not self.realm.get("adminPermissionsEnabled"):
            return []
        if self.admin.get_client_id(ADMIN_PERMISSIONS_CLIENT) is None:
            return []  # appears once the realm setting is applied (next pass of apply())
        service = self._service_account_id()
        if service is None:
            return []
        changes: list[Change] = []
        policies = {p["name"]: p for p in self._authz("GET", "policy?max=-1")}
        for name, logic in ((ALLOW_POLICY, "POSITIVE"), (DENY_POLICY, "NEGATIVE")):
            desired = {"name": name, "type": "user", "logic": logic, "decisionStrategy": "UNANIMOUS",
                       "users": [service]}
            live = policies.get(name)
            if live is None:
                changes.append(Change(f"política {name}", lambda d=desired: self._authz("POST", "policy/user", d)))
            elif live.get("logic") != logic or json.loads(live.get("config", {}).get("users", "[]")) != [service]:
                changes.append(Change(f"actualizar política {name}",
                                      lambda d=desired, i=live["id"]: self._authz("PUT", f"policy/user/{i}",
                                                                                   {**d, "id": i})))
        if changes:
            return changes  # permissions refer to the policies: next pass
        group_ids = {g["name"]: g["id"] for g in self.admin.get_groups()}
        type_groups = [group_ids.get(group_of(t.slug)) for t in USER_TYPES]
        wanted = {ALL: [], PROTECTED_USERS: sorted(self.protected_user_ids()),
                  USER_TYPE_ROLES: sorted(self.admin.get_realm_role(t.slug)["id"] for t in USER_TYPES),
                  USER_TYPE_GROUPS: sorted(i for i in type_groups if i)}
        live_permissions = {p["name"]: p for p in self._authz("GET", "permission?max=-1")}
        for permission in ADMIN_PERMISSIONS:
            if permission.resources == USER_TYPE_GROUPS and None in type_groups:
                continue  # the missing groups are created in this pass (_group_changes): next pass
            desired = {"name": permission.name, "type": "scope", "resourceType": permission.resource_type,
                       "resources": wanted[permission.resources], "scopes": list(permission.scopes),
                       "policies": [policies[permission.policy]["id"]], "decisionStrategy": "UNANIMOUS",
                       "logic": "POSITIVE"}
            live = live_permissions.get(permission.name)
            if live is None:
                changes.append(Change(f"permiso {permission.name}",
                                      lambda d=desired: self._authz("POST", "permission/scope", d)))
                continue
            have_resources = sorted(r["name"] for r in self._authz("GET", f"policy/{live['id']}/resources"))
            if have_resources == [permission.resource_type]:
                have_resources = []  # an all-resources permission lists the resource type itself
            have_scopes = sorted(sc["name"] for sc in self._authz("GET", f"policy/{live['id']}/scopes"))
            have_policies = sorted(p["id"] for p in self._authz("GET", f"policy/{live['id']}/associatedPolicies"))
            if (have_resources != desired["resources"] or have_scopes != sorted(desired["scopes"])
                    or have_policies != desired["policies"] or live.get("resourceType") != permission.resource_type):
                changes.append(Change(f"actualizar permiso {permission.name}",
                                      lambda d=desired, i=live["id"]: self._authz("PUT", f"permission/scope/{i}",
                                                                                   {**d, "id": i})))
        if changes:
            return changes
        return self._excess_service_roles()

    def _excess_service_roles(self) -> list[Change]:
        """realm-management roles the service account holds but the realm file does not give it
        (manage-users on a realm provisioned before least privilege)."""
        changes = []
        management_id = self.admin.get_client_id("realm-management")
        for user in self.realm.get("users", []):
            owner = user.get("serviceAccountClientId")
            client_internal = self.admin.get_client_id(owner) if owner else None
            if client_internal is None:
                continue
            account = self.admin.get_client_service_account_user(client_internal)
            declared = set(user.get("clientRoles", {}).get("realm-management", []))
            for role in self.admin.get_client_roles_of_user(account["id"], management_id):
                if role["name"] not in declared:
                    changes.append(Change(
                        f"quitar rol realm-management/{role['name']} a {owner}",
                        lambda a=account["id"], r=role: self.admin.delete_client_roles_of_user(
                            a, management_id, [{"id": r["id"], "name": r["name"]}])))
        return changes


def catalog_mismatches(realm: dict, profile: dict) -> list[str]:
    """Where the realm files disagree with `catalog.py`: the single source of user types."""
    problems = []
    groups = {g["name"]: g for g in realm.get("groups", [])}
    for t in USER_TYPES:
        group = groups.get(group_of(t.slug))
        if group is None:
            problems.append(f"falta el grupo {group_of(t.slug)}")
        elif (group.get("path", "/" + group["name"]) != "/" + group["name"] or list(group.get("realmRoles", [])) != [t.slug]
              or group.get("clientRoles") or group.get("subGroups")):
            problems.append(f"el grupo {group_of(t.slug)} debe llevar solo el rol {t.slug}")
    extra_groups = set(groups) - {group_of(t.slug) for t in USER_TYPES}
    problems += [f"grupo sin tipo de usuario: {g}" for g in sorted(extra_groups)]
    roles = {r["name"] for r in realm["roles"]["realm"]}
    for t in USER_TYPES:
        if t.slug not in roles:
            problems.append(f"falta el rol {t.slug}")
    extra = roles - {t.slug for t in USER_TYPES} - {REVIEWER_ROLE, SUPERVISOR_ROLE, CONSOLE_STAFF_ROLE}
    problems += [f"rol sin tipo de usuario: {r}" for r in sorted(extra)]
    declared = {r["name"]: r for r in realm["roles"]["realm"]}
    for staff in (REVIEWER_ROLE, SUPERVISOR_ROLE, CONSOLE_STAFF_ROLE):
        if staff not in roles:
            problems.append(f"falta el rol {staff}")
    for staff in (REVIEWER_ROLE, SUPERVISOR_ROLE):  # the second factor is asked of CONSOLE_STAFF_ROLE's holders
        if CONSOLE_STAFF_ROLE not in (declared.get(staff, {}).get("composites") or {}).get("realm", []):
            problems.append(f"el rol {staff} debe incluir {CONSOLE_STAFF_ROLE}")
    attrs = {a["name"]: a for a in profile["attributes"]}
    options = attrs.get("tipo_usuario", {}).get("validations", {}).get("options", {}).get("options", [])
    if list(options) != [t.slug for t in USER_TYPES]:
        problems.append("las opciones de tipo_usuario no coinciden con el catálogo")
    statuses = attrs.get("estatus", {}).get("validations", {}).get("options", {}).get("options", [])
    if list(statuses) != list(STATUSES):
        problems.append("las opciones de estatus no coinciden con el catálogo")
    return problems
