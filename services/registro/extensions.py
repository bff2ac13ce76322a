"""Flask extensions shared by the blueprints (created unbound, bound in `create_app`)."""
from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_wtf import CSRFProtect


def client_address() -> str:
    # ProxyFix (enabled by TRUSTED_PROXIES) has already put the real client in remote_addr.
    return request.remote_addr or "desconocido"


csrf = CSRFProtect()
limiter = Limiter(key_func=client_address, headers_enabled=True, strategy="moving-window")
