"""`registro`: registration, activation, review console and password-recovery front door."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask

from registro.config import Settings
from registro import container, observability
from registro.container import Adapters
from registro.extensions import csrf, limiter
from registro import i18n


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory. `test_config` may carry `SETTINGS` (a Settings) and `ADAPTERS` (an
    Adapters of fakes for unit tests), plus any Flask config key."""
    test_config = dict(test_config or {})
    settings: Settings = test_config.pop("SETTINGS", None) or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # A key rotation (REGISTRO_SECRET_KEY_PREVIOUS): sessions and forms signed before it still verify.
        SECRET_KEY_FALLBACKS=list(settings.previous_secret_keys),
        WTF_CSRF_SECRET_KEY=settings.signing_keys,
        # A small limit for every body: a huge POST is refused (413) from its Content-Length before
        # CSRF or login are even checked. Upload views raise it for their own request only
        # (documents/uploads.py sets request.max_content_length) and count each file while streaming.
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        # Over HTTPS Flask-WTF also demands a same-origin Referer; pages with a token in their path
        # send none (Referrer-Policy: no-referrer), so every form on them answered 400. The signed
        # token bound to the session (SameSite=Lax, Secure, HSTS) is the protection.
        WTF_CSRF_SSL_STRICT=False,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        JSON_AS_ASCII=False,
    )
    adapters: Adapters = container.build(settings, test_config.pop("ADAPTERS", None))
    app.config.update(test_config)
    if settings.trusted_proxies:
        from registro.web import trusted_proxy  # X-Forwarded-* only from TRUSTED_PROXY_ADDRESSES (prod profile)

        app.wsgi_app = trusted_proxy.wrap(app.wsgi_app, settings.trusted_proxies, settings.trusted_proxy_addresses)
    app.extensions[container.SETTINGS_KEY] = settings
    app.extensions[container.APP_KEY] = adapters
    observability.install(app)  # after ProxyFix: the request id wraps everything

    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    _quiet_personal_data(app)

    from registro.web import errors, health, pages, security_headers
    from registro.web.blueprints import BLUEPRINTS

    errors.register(app)
    security_headers.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions
    from registro import background

    background.install(app)
    return app


def _quiet_personal_data(app: Flask) -> None:
    # Werkzeug logs full request lines; confirmation tokens travel in paths, so its
    # access log stays off in-process (gunicorn's access log is configured separately).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
