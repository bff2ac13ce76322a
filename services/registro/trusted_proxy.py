"""X-Forwarded-* honoured only from the balancer.

ProxyFix alone believes whoever connects: a client reaching a replica directly could pick its own
address (and so its own rate-limit bucket). TRUSTED_PROXY_ADDRESSES lists the balancer's source
addresses; requests from any other peer keep their real address. Empty = any peer (the local
stacks, where nothing sits in front).
"""
from __future__ import annotations

import os

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    def __init__(self, app, hops: int, addresses: frozenset[str]) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.addresses = addresses

    def __call__(self, environ, start_response):
        if not self.addresses or environ.get("REMOTE_ADDR") in self.addresses:
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def wrap(app, hops: int, env=None) -> TrustedProxyFix:
    env = os.environ if env is None else env
    addresses = frozenset(a.strip() for a in env.get("TRUSTED_PROXY_ADDRESSES", "").split(",") if a.strip())
    return TrustedProxyFix(app, hops, addresses)
