"""Who may use the staff consoles (/revision for reviewers, /supervision for supervisors).

Login is OpenID Connect against Keycloak (adapters/oidc.py). The session lives server-side
(adapters/sessions.py; Redis when the replicas share it): the cookie carries only its random id,
so logging out ends it for every copy of the cookie. A sign-out in Keycloak (elsewhere, or an
administrator's "logout") ends it at once through the back-channel logout (review/backchannel_logout.py).
Every `console_recheck_s` (a few minutes) the account and its realm roles are read again from
Keycloak: a reviewer disabled there, whose role was removed or whose password was reset by an
administrator (Keycloak sends no logout for that), is out at the next request after that, not at
the end of the working day.

Sessions are state that may be lost (issue 20): with Redis unreachable, any console request (login
callback included) is sent to «Sesión interrumpida», which asks the reviewer to log in again
(web/errors.py redirects every SessionsUnavailable of the console there); logging out still ends the
Keycloak session and clears the cookie.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import wraps

from authlib.integrations.base_client import OAuthError
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from keycloak_ext import AccountNotFound
from keycloak_ext.catalog import REVIEWER_ROLE

from registro.adapters import oidc
from registro.adapters.sessions import SessionsUnavailable
from registro.container import SETTINGS_KEY, adapters, settings
from registro.documents.service import MEXICO_CITY
from registro.review.leases import Reviewer
from registro.web.errors import error_page

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/revision")

SUPERVISOR_ROLE = "supervisor"
STAFF_ROLES = frozenset({REVIEWER_ROLE, SUPERVISOR_ROLE})
SESSION_ID = "consola"  # the only console value in the (signed) cookie
SESSION_NEXT = "consola_siguiente"
SESSION_ACTION = "consola_accion"  # the Keycloak action the console asked for (passkey registration)
SESSION_MAX_AGE_S = 8 * 3600  # a reviewer logs in again after a working day

NOT_REVIEWER = ("Su cuenta no tiene el rol de revisor. Solo el personal de la ANAM autorizado para validar "
                "solicitudes puede entrar a la consola de validación.")
NOT_SUPERVISOR = ("Su cuenta no tiene el rol de supervisor. Solo el personal de la ANAM autorizado para "
                  "supervisar la validación puede ver estas cifras.")
NOT_STAFF = ("Su cuenta no tiene el rol de revisor ni de supervisor. Solo el personal de la ANAM autorizado "
             "puede entrar a la consola de validación.")


@bp.record_once
def _setup(state) -> None:
    app = state.app
    oidc.init_oidc(app, app.extensions[SETTINGS_KEY])
    app.jinja_env.filters["fecha_local"] = local_time


def local_time(value) -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(MEXICO_CITY).strftime("%d/%m/%Y %H:%M")


def console_headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self'; frame-src 'self'; object-src 'self'; "
                                "script-src 'self'; style-src 'self'; form-action 'self' "
                                f"{settings().keycloak_public_url}; frame-ancestors 'self'; base-uri 'none'")
    return response


bp.after_request(console_headers)


# --- the session --------------------------------------------------------------------------------
def console_user() -> dict | None:
    """The logged-in staff member's server-side session (id, usuario, nombre, roles), re-checked
    against Keycloak when the last check is older than `console_recheck_s`; None when there is none."""
    session_id = session.get(SESSION_ID)
    if not session_id:
        return None
    store = adapters().console_sessions
    data = store.get(session_id)
    if not data or time.time() - data.get("desde", 0) > SESSION_MAX_AGE_S:
        session.pop(SESSION_ID, None)
        return None
    if time.time() - data.get("verificado", 0) > settings().console_recheck_s:
        roles = _current_roles(data["id"], since=data.get("desde", 0))
        if roles is None or not (roles & STAFF_ROLES):
            store.delete(session_id)
            session.pop(SESSION_ID, None)
            log.info("sesión de consola revocada: la cuenta ya no está habilitada, perdió su rol o cambió su contraseña")
            return None
        data = {**data, "roles": sorted(roles), "verificado": time.time()}
        store.update(session_id, data)
    return data


def _current_roles(user_id: str, since: float) -> set[str] | None:
    """The account's effective realm roles now (as its next token would carry them: direct, through
    groups, composites); None when it was deleted or disabled, or its password was set after `since`
    (the login). Keycloak 26.7 keeps an account's sessions when an administrator resets its password
    and sends no back-channel logout then: this check is what ends the console session after a reset.
    With Keycloak down, IdentityUnavailable propagates: the request gets a 503 and nothing is served
    unchecked."""
    identity = adapters().identity
    try:
        account = identity.get_account(user_id)
        if not account.enabled or (identity.password_set_at(user_id) or 0) > since:
            return None
    except AccountNotFound:
        return None
    return set(identity.realm_roles_of(user_id))


def current_reviewer() -> Reviewer | None:
    data = console_user()
    if not data or REVIEWER_ROLE not in data.get("roles", ()):
        return None
    return Reviewer(id=data["id"], username=data["usuario"])


def _required(role: str, refused: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            data = console_user()
            if data is None:
                if request.method == "GET":
                    session[SESSION_NEXT] = request.full_path if request.query_string else request.path
                return redirect(url_for("console.login"))
            if role not in data.get("roles", ()):
                return render_template("revision/prohibido.html", mensaje=refused), 403
            return view(Reviewer(id=data["id"], username=data["usuario"]), *args, **kwargs)
        return wrapper
    return decorator


reviewer_required = _required(REVIEWER_ROLE, NOT_REVIEWER)
supervisor_required = _required(SUPERVISOR_ROLE, NOT_SUPERVISOR)


def start_session(user_id: str, username: str, name: str, roles: set[str], sid: str | None = None) -> None:
    """`sid` is Keycloak's session (the ID token's claim): its back-channel logout ends this one."""
    now = time.time()
    data = {"id": user_id, "usuario": username, "nombre": name, "roles": sorted(roles), "desde": now, "verificado": now}
    if sid:
        data["sid"] = sid
    session_id = adapters().console_sessions.create(data, SESSION_MAX_AGE_S)
    session[SESSION_ID] = session_id


# --- login and logout ------------------------------------------------------------------------------
@bp.get("/login")
def login():
    if console_user() is not None:
        return redirect(url_for("review.queue"))
    return oidc.client(current_app).authorize_redirect(f"{settings().public_url}/revision/callback")


# Keycloak's application-initiated action (AIA) that registers a WebAuthn credential as the second
# factor; the realm keeps it enabled (realm-config `requiredActions`) and its browser flow accepts the
# credential beside the OTP code.
PASSKEY_ACTION = "webauthn-register"
PASSKEY_RESULTS = {
    "success": ("exito", "Se registró su llave de acceso. En su próximo inicio de sesión puede usarla en lugar "
                         "del código de la aplicación de autenticación (elija «Usar otro método»)."),
    "cancelled": ("aviso", "No se registró ninguna llave de acceso."),
    "error": ("error", "No fue posible registrar la llave de acceso. Vuelva a intentarlo."),
}


@bp.get("/llave-de-acceso")
def register_passkey():
    """"Registrar llave de acceso": the reviewer goes through Keycloak, which asks for the password
    and second factor again when the login is older than its limit, shows its passkey registration
    page and comes back through the callback with `kc_action_status`."""
    data = console_user()
    if data is None:
        session[SESSION_NEXT] = request.path
        return redirect(url_for("console.login"))
    if REVIEWER_ROLE not in data.get("roles", ()):
        return render_template("revision/prohibido.html", mensaje=NOT_REVIEWER), 403
    session[SESSION_ACTION] = PASSKEY_ACTION
    return oidc.client(current_app).authorize_redirect(f"{settings().public_url}/revision/callback",
                                                       kc_action=PASSKEY_ACTION)


@bp.get("/callback")
def callback():
    try:
        token = oidc.client(current_app).authorize_access_token()
    except (OAuthError, JoseError, KeyError, ValueError) as exc:  # JoseError: an ID token claim (iss, aud, exp…)
        log.warning("inicio de sesión de consola rechazado: %s", type(exc).__name__)
        return error_page(400, "No fue posible completar el inicio de sesión. Vuelva a intentarlo desde "
                               "la consola de validación.")
    identity = oidc.identity_from(token["userinfo"])
    next_url = session.pop(SESSION_NEXT, None)
    action = session.pop(SESSION_ACTION, None)
    _end_server_session()
    session.clear()  # a fresh session for a fresh login (no fixation)
    roles = set(identity.roles) & STAFF_ROLES
    if not roles:
        return render_template("revision/prohibido.html", mensaje=NOT_STAFF), 403
    start_session(identity.id, identity.username, identity.name, roles, sid=token["userinfo"].get("sid"))
    session["consola_id_token"] = token.get("id_token", "")
    result = PASSKEY_RESULTS.get(request.args.get("kc_action_status", "")) if action == PASSKEY_ACTION else None
    if result:
        flash(result[1], result[0])
    home = url_for("review.queue") if REVIEWER_ROLE in roles else url_for("supervision.summary")
    if not next_url or not next_url.startswith(("/revision", "/supervision")) or next_url.startswith("//"):
        next_url = home
    return redirect(next_url)


def _end_server_session() -> None:
    session_id = session.get(SESSION_ID)
    if session_id:
        adapters().console_sessions.delete(session_id)


@bp.post("/salir")
def logout():
    # CSRFProtect has checked the token (every POST): no page elsewhere can log a reviewer out.
    id_token = session.get("consola_id_token")
    try:
        _end_server_session()  # a copy of the cookie taken before this point no longer opens anything
    except SessionsUnavailable:
        # Leaving must still work: this browser forgets the session and Keycloak's ends below; the
        # stored copy could not be deleted and lapses at its expiry (a Redis without persistence,
        # as in the local stacks, has lost it already).
        log.warning("almacén de sesiones de la consola no disponible al salir: la sesión guardada caduca sola")
    session.clear()
    return oidc.client(current_app).logout_redirect(
        post_logout_redirect_uri=f"{settings().public_url}/revision/sesion-cerrada", id_token_hint=id_token or None,
        client_id=settings().review_client_id)


@bp.get("/sesion-cerrada")
def logged_out():
    return render_template("revision/sesion_cerrada.html")


@bp.get("/sesion-interrumpida")
def interrupted():
    # Reads no session: it must answer while the session store is down.
    return render_template("revision/sesion_interrumpida.html")
