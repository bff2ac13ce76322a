"""`registro`: registration, activation, review console and password-recovery front door."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask

from .config import Settings
from . import container
from .container import Adapters
from .extensions import csrf, limiter


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory. `test_config` may carry `SETTINGS` (a Settings) and `ADAPTERS` (an
    Adapters of fakes for unit tests), plus any Flask config key."""
    test_config = dict(test_config or {})
    settings: Settings = test_config.pop("SETTINGS", None) or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=None,  # uploads are limited while streaming, per file (see documents)
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_AS_ASCII=False,
    )
    adapters: Adapters = container.build(settings, test_config.pop("ADAPTERS", None))
    app.config.update(test_config)
    if settings.trusted_proxies:
        from . import trusted_proxy  # X-Forwarded-* only from TRUSTED_PROXY_ADDRESSES (prod profile)

        app.wsgi_app = trusted_proxy.wrap(app.wsgi_app, settings.trusted_proxies)
    app.extensions[container.SETTINGS_KEY] = settings
    app.extensions[container.APP_KEY] = adapters

    csrf.init_app(app)
    limiter.init_app(app)
    _quiet_personal_data(app)

    from .web import BLUEPRINTS, errors, health, pages, security_headers

    errors.register(app)
    security_headers.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions
    return app


def _quiet_personal_data(app: Flask) -> None:
    # Werkzeug logs full request lines; confirmation tokens travel in paths, so its
    # access log stays off in-process (gunicorn's access log is configured separately).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
