"""Example ANAM module: how any module logs a user in through Acceso Único (OIDC).

It is an ordinary OIDC client of realm `anam` (client `modulo-ejemplo`): authorization code with
PKCE through Authlib, the user's data read from the verified ID token (the realm's `anam-perfil`
scope puts nombre, tipo_usuario, curp, rfc, es_extranjero and realm_roles in it), one page
restricted to one user type, and a logout that also ends the Keycloak session.
"""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, jsonify, redirect, render_template, session, url_for

from keycloak_ext.catalog import USER_TYPE_LABELS

from .config import ModuloSettings

# What the module keeps of the ID token in its session cookie (signed, not encrypted: no tokens).
KEPT_CLAIMS = ("nombre", "tipo_usuario", "curp", "rfc", "es_extranjero", "realm_roles", "preferred_username")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    test_config = dict(test_config or {})
    settings: ModuloSettings = test_config.pop("SETTINGS", None) or ModuloSettings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
    )
    app.config.update(test_config)
    app.extensions["modulo.settings"] = settings

    oauth = OAuth(app)
    oauth.register(
        "acceso_unico",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.metadata_url,
        # Browsers go to Keycloak's public address; the module itself talks to KEYCLOAK_URL.
        authorize_url=f"{settings.public_realm_url}/protocol/openid-connect/auth",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256"},
    )
    _routes(app, oauth, settings)
    return app


def _user() -> dict | None:
    return session.get("usuario")


def _routes(app: Flask, oauth: OAuth, settings: ModuloSettings) -> None:
    @app.context_processor
    def globals_():
        user = _user()
        return {"usuario": user, "tipo_permitido": USER_TYPE_LABELS.get(settings.allowed_type, settings.allowed_type)}

    @app.get("/salud")
    def alive():
        return jsonify(estado="ok")

    @app.get("/")
    def home():
        return render_template("inicio.html")

    @app.get("/entrar")
    def login():
        return oauth.acceso_unico.authorize_redirect(url_for_public("callback"))

    @app.get("/auth")
    def callback():
        token = oauth.acceso_unico.authorize_access_token()  # checks state, PKCE, ID token signature
        claims = token.get("userinfo") or {}
        session.clear()
        session["usuario"] = {k: claims.get(k) for k in KEPT_CLAIMS}
        session["id_token"] = token.get("id_token")  # the logout hint Keycloak asks for
        return redirect(url_for("profile"))

    @app.get("/perfil")
    def profile():
        user = _user()
        if user is None:
            return redirect(url_for("login"))
        label = USER_TYPE_LABELS.get(user.get("tipo_usuario") or "", "Sin tipo de usuario")
        return render_template("perfil.html", tipo_etiqueta=label)

    @app.get("/agentes")
    def restricted():
        user = _user()
        if user is None:
            return redirect(url_for("login"))
        if settings.allowed_type not in (user.get("realm_roles") or []):
            abort(403)
        return render_template("restringida.html")

    @app.get("/salir")
    def logout():
        id_token = session.get("id_token")
        session.clear()
        params = {"client_id": settings.client_id, "post_logout_redirect_uri": url_for_public("home")}
        if id_token:
            params["id_token_hint"] = id_token
        return redirect(f"{settings.public_realm_url}/protocol/openid-connect/logout?{urlencode(params)}")

    @app.errorhandler(403)
    def forbidden(exc):
        return render_template("error.html", titulo="Acceso denegado",
                               mensaje="Esta página es solo para usuarios de tipo "
                                       f"{USER_TYPE_LABELS.get(settings.allowed_type, settings.allowed_type)}."), 403

    @app.errorhandler(OAuthError)
    def login_failed(exc):
        # Denied consent, a lost session or a replayed callback: start again from the button.
        app.logger.warning("inicio de sesión fallido: %s", type(exc).__name__)
        return render_template("error.html", titulo="No fue posible iniciar sesión",
                               mensaje="El inicio de sesión no se completó. Intente de nuevo."), 400

    @app.errorhandler(404)
    def not_found(exc):
        return render_template("error.html", titulo="Página no encontrada",
                               mensaje="La página que busca no existe."), 404

    def url_for_public(endpoint: str) -> str:
        # Keycloak only redirects to `${MODULO_PUBLIC_URL}/*`, whatever Host the request carried.
        return settings.public_url + url_for(endpoint)
