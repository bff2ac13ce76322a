"""A realm-bound gateway over python-keycloak: the only place that imports it.

Callers get plain `Account` values and the exceptions of `keycloak_ext.errors`;
python-keycloak's raw dicts and exception types stay inside this module.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakConnectionError, KeycloakError

from .errors import AccountConflict, AccountNotFound, IdentityRejected, IdentityUnavailable
from .settings import KeycloakSettings

def environment_configures_http(environ=None) -> bool:
    """Whether any variable requests would act on is set: a proxy (`*_proxy`, any case, as urllib
    reads them) or a CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)."""
    names = {name.lower() for name in (os.environ if environ is None else environ)}
    return any(n.endswith("_proxy") for n in names) or bool(names & {"requests_ca_bundle", "curl_ca_bundle"})


def _settle_environment(conn: KeycloakOpenIDConnection) -> KeycloakOpenIDConnection:
    """requests scans the whole environment for proxy settings twice on every call (≈ 1 ms of CPU
    per Keycloak call with a typical environment). Decided once at start: with no such variable set
    the scan can only find nothing and is switched off; with any set, requests keeps honouring it.
    (Its netrc lookup is already off: python-keycloak sets its own `auth`.) python-keycloak exposes
    no setting for this: its sessions are reached through the private `_s`."""
    if not environment_configures_http():
        for manager in (conn, conn.keycloak_openid.connection):
            manager._s.trust_env = False  # noqa: SLF001
    return conn


# Told of every answer Keycloak gives this gateway: the HTTP method and status (never the URL, which
# may carry an account id or a search for an email).
OnAnswer = Callable[[str, int], None]


def _tell_answers(conn: KeycloakOpenIDConnection, on_answer: OnAnswer) -> KeycloakOpenIDConnection:
    """Every request of both sessions (the admin API's and the token endpoint's), through requests'
    response hook: python-keycloak offers no hook of its own, and its sessions are reached through the
    private `_s` as in _settle_environment."""
    def hook(response, *_args, **_kwargs):
        on_answer(response.request.method or "", response.status_code)
    for manager in (conn, conn.keycloak_openid.connection):
        manager._s.hooks["response"].append(hook)  # noqa: SLF001
    return conn


# Attributes handled as the built-in columns of a Keycloak user rather than `attributes`.
_BUILT_IN = ("username", "email", "firstName", "lastName")


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    email: str
    first_name: str
    last_name: str
    enabled: bool
    email_verified: bool
    created_ms: int
    attributes: dict[str, str] = field(default_factory=dict)

    def attr(self, name: str, default: str = "") -> str:
        return self.attributes.get(name, default)

    @classmethod
    def from_representation(cls, rep: dict) -> "Account":
        attrs = {k: v[0] for k, v in (rep.get("attributes") or {}).items() if v}
        return cls(
            id=rep["id"],
            username=rep.get("username", ""),
            email=rep.get("email", ""),
            first_name=rep.get("firstName", ""),
            last_name=rep.get("lastName", ""),
            enabled=bool(rep.get("enabled")),
            email_verified=bool(rep.get("emailVerified")),
            created_ms=int(rep.get("createdTimestamp") or 0),
            attributes=attrs,
        )


def _translate(exc: KeycloakError) -> Exception:
    if isinstance(exc, KeycloakConnectionError):
        return IdentityUnavailable("Keycloak no responde")
    code = exc.response_code or 0
    if code == 404:
        return AccountNotFound(str(exc.error_message))
    if code == 409:
        return AccountConflict(str(exc.error_message))
    if 400 <= code < 500 and code != 401:  # 401: the service's own credentials failed
        return IdentityRejected(_error_text(exc), _error_fields(exc))
    return IdentityUnavailable(f"Keycloak respondió {code}")


def _error_fields(exc: KeycloakError) -> tuple[str, ...]:
    """The attributes a user-profile refusal names: `{"field": …}` or `{"errors": [{"field": …}, …]}`."""
    try:
        data = json.loads(exc.response_body or b"")
    except (ValueError, TypeError):
        return ()
    if not isinstance(data, dict):
        return ()
    items = data.get("errors") if isinstance(data.get("errors"), list) else [data]
    return tuple(str(i["field"]) for i in items if isinstance(i, dict) and i.get("field"))


def _error_text(exc: KeycloakError) -> str:
    body = exc.response_body or b""
    try:
        data = json.loads(body)
        return str(data.get("errorMessage") or data.get("error") or data)
    except (ValueError, AttributeError):
        return str(exc.error_message)


class _Translating:
    """Context manager turning python-keycloak errors into domain errors."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and isinstance(exc, KeycloakError):
            raise _translate(exc) from exc
        return False


_calls = _Translating()


class KeycloakGateway:
    """Everything `registro` asks of Keycloak, bound to one realm (no `change_current_realm`)."""

    def __init__(self, settings: KeycloakSettings, admin: KeycloakAdmin | None = None) -> None:
        self.settings = settings
        self._admin = admin
        # Realm roles never change id while the realm lives: one lookup per role and process.
        # (The service token and the HTTP connection are reused by python-keycloak's connection.)
        self._roles: dict[str, dict] = {}

    @classmethod
    def for_service(cls, settings: KeycloakSettings, *, on_answer: OnAnswer | None = None) -> "KeycloakGateway":
        """Authenticated as the `registro` service account (client credentials). `on_answer`, when
        given, is told the method and status of every request made to Keycloak (registro counts them)."""
        conn = KeycloakOpenIDConnection(
            server_url=settings.server_url,
            realm_name=settings.realm,
            user_realm_name=settings.realm,
            client_id=settings.client_id,
            client_secret_key=settings.client_secret,
            timeout=settings.timeout,
            max_retries=1,
        )
        conn = _settle_environment(conn)
        return cls(settings, KeycloakAdmin(connection=_tell_answers(conn, on_answer) if on_answer else conn))

    @classmethod
    def for_bootstrap_admin(cls, settings: KeycloakSettings) -> "KeycloakGateway":
        """Authenticated as the master-realm admin; used by provisioning only."""
        conn = KeycloakOpenIDConnection(
            server_url=settings.server_url,
            realm_name=settings.realm,
            user_realm_name="master",
            client_id="admin-cli",
            username=settings.admin_user,
            password=settings.admin_password,
            timeout=settings.timeout,
        )
        return cls(settings, KeycloakAdmin(connection=_settle_environment(conn)))

    @property
    def admin(self) -> KeycloakAdmin:
        if self._admin is None:
            raise IdentityUnavailable("gateway sin conexión")
        return self._admin

    # --- accounts -------------------------------------------------------------------------
    def create_account(
        self,
        *,
        username: str,
        email: str,
        first_name: str,
        last_name: str,
        attributes: dict[str, str],
        enabled: bool = False,
        email_verified: bool = False,
        groups: tuple[str, ...] = (),
        recorded: bool = False,
    ) -> str:
        """`groups`: paths of groups the account joins in the same call (catalog.group_path_of).
        `recorded` (the identity port's: whether the caller's record exists already) changes nothing
        here: Keycloak holds accounts only.
        Keycloak honours `groups` on a create but ignores `realmRoles`, so a user type's role is
        given through its group: one call instead of create + role mapping. A group the service
        account may not manage the membership of → IdentityRejected (403), nothing created; an
        unknown group path → IdentityUnavailable (Keycloak answers 500), nothing created."""
        payload = {
            "username": username,
            "email": email,
            "firstName": first_name,
            "lastName": last_name,
            "enabled": enabled,
            "emailVerified": email_verified,
            "attributes": {k: [v] for k, v in attributes.items() if v != ""},
        }
        if groups:
            payload["groups"] = list(groups)
        with _calls:
            try:
                return self.admin.create_user(payload, exist_ok=False)
            except KeycloakError as exc:
                if exc.response_code == 409:
                    raise AccountConflict("ya existe una cuenta con ese usuario o correo") from exc
                if groups and (exc.response_code or 0) >= 500:
                    # Keycloak's answer to a group path it does not have is a bare 500 ("unknown_error"):
                    # the operator reading the log needs the likely cause and its fix.
                    raise IdentityUnavailable(
                        f"Keycloak respondió {exc.response_code} al crear la cuenta en {', '.join(groups)}; si el "
                        "reino no tiene ese grupo, aplique realm-config con «python -m keycloak_ext provision»"
                    ) from exc
                raise

    def get_account(self, account_id: str) -> Account:
        with _calls:
            return Account.from_representation(self.admin.get_user(account_id))

    def find_by_username(self, username: str) -> Account | None:
        with _calls:
            reps = self.admin.get_users({"username": username, "exact": True})
        return Account.from_representation(reps[0]) if reps else None

    def find_by_email(self, email: str) -> Account | None:
        with _calls:
            reps = self.admin.get_users({"email": email, "exact": True})
        return Account.from_representation(reps[0]) if reps else None

    def find_by_attribute(self, name: str, value: str, *, first: int = 0, max_results: int = 100) -> list[Account]:
        with _calls:
            reps = self.admin.get_users({"q": f"{name}:{value}", "first": first, "max": max_results, "briefRepresentation": False})
        # `q` matches exactly in Keycloak 26, but values are compared again to be safe.
        return [a for a in map(Account.from_representation, reps) if a.attr(name) == value]

    def iter_by_attribute(self, name: str, value: str, page_size: int = 200) -> Iterator[Account]:
        first = 0
        while True:
            page = self.find_by_attribute(name, value, first=first, max_results=page_size)
            yield from page
            if len(page) < page_size:
                return
            first += page_size

    def update_attributes(self, account_id: str, changes: dict[str, str | None]) -> Account:
        """GET-merge-PUT: a PUT with `attributes` drops whatever it leaves out. None deletes."""
        return self.update_account(account_id, attributes=changes)

    def update_account(
        self,
        account_id: str,
        *,
        enabled: bool | None = None,
        email_verified: bool | None = None,
        attributes: dict[str, str | None] | None = None,
        required_actions: list[str] | None = None,
        base: Account | None = None,
    ) -> Account:
        """GET-merge-PUT. `base`: the account as the caller just read it under the application's
        edit lock — the PUT is built from it and the GET is skipped (one round trip fewer)."""
        with _calls:
            rep = _representation(base) if base is not None else self.admin.get_user(account_id)
            if enabled is not None:
                rep["enabled"] = enabled
            if email_verified is not None:
                rep["emailVerified"] = email_verified
            if required_actions is not None:
                rep["requiredActions"] = required_actions
            if attributes:
                attrs = dict(rep.get("attributes") or {})
                for key, value in attributes.items():
                    if value is None or value == "":
                        attrs.pop(key, None)
                    else:
                        attrs[key] = [value]
                rep["attributes"] = attrs
            self.admin.update_user(account_id, _writable(rep))
            return Account.from_representation(rep)

    def delete_account(self, account_id: str) -> None:
        with _calls:
            try:
                self.admin.delete_user(account_id)
            except KeycloakError as exc:
                if exc.response_code != 404:
                    raise

    def count_by_attribute(self, name: str, value: str) -> int:
        with _calls:
            return int(self.admin.users_count({"q": f"{name}:{value}"}))

    # --- roles and credentials ------------------------------------------------------------
    def assign_realm_role(self, account_id: str, role_name: str) -> None:
        with _calls:
            role = self._roles.get(role_name)
            if role is None:
                rep = self.admin.get_realm_role(role_name)
                role = self._roles[role_name] = {"id": rep["id"], "name": rep["name"]}
            try:
                self.admin.assign_realm_roles(account_id, [role])
            except KeycloakError:
                self._roles.pop(role_name, None)  # a role recreated since: look it up again next time
                raise

    def realm_roles_of(self, account_id: str) -> set[str]:
        """The account's effective realm roles: mapped directly, through its groups, or as parts of
        composites (the default roles) — what its tokens carry in realm_access.roles."""
        with _calls:
            return {r["name"] for r in self.admin.get_composite_realm_roles_of_user(account_id)}

    def password_set_at(self, account_id: str) -> float | None:
        """When the password was last set (epoch seconds): an administrator's reset replaces the
        credential, so its `createdDate` moves; Keycloak itself keeps the sessions open then."""
        with _calls:
            credentials = self.admin.get_credentials(account_id)
        dates = [c["createdDate"] for c in credentials if c.get("type") == "password" and c.get("createdDate")]
        return max(dates) / 1000 if dates else None

    def set_temporary_password(self, account_id: str, password: str) -> None:
        with _calls:
            self.admin.set_user_password(account_id, password, temporary=True)

    def send_actions_email(
        self, account_id: str, actions: list[str], *, client_id: str | None = None,
        redirect_uri: str | None = None, lifespan_s: int | None = None,
    ) -> None:
        """Keycloak's own execute-actions email (action token); the account must be enabled."""
        with _calls:
            self.admin.send_update_account(
                user_id=account_id, payload=actions, client_id=client_id,
                lifespan=lifespan_s, redirect_uri=redirect_uri,
            )

    def ping(self) -> None:
        """Raises IdentityUnavailable when the service account cannot reach its realm."""
        with _calls:
            self.admin.users_count({"max": 1})


def _representation(account: Account) -> dict:
    """A user representation with every field a PUT needs, from an Account read just before."""
    return {"username": account.username, "email": account.email, "firstName": account.first_name,
            "lastName": account.last_name, "enabled": account.enabled, "emailVerified": account.email_verified,
            "createdTimestamp": account.created_ms, "id": account.id,
            "attributes": {k: [v] for k, v in account.attributes.items()}}


def _writable(rep: dict) -> dict:
    """The fields a user PUT accepts; read-only ones (access, createdTimestamp…) are left out."""
    keep = ("username", "email", "firstName", "lastName", "enabled", "emailVerified", "attributes", "requiredActions")
    return {k: rep[k] for k in keep if k in rep}
