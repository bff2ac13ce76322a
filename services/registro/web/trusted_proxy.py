"""X-Forwarded-* honoured only from the balancer.

ProxyFix alone believes whoever connects: a client reaching a replica directly could pick its own
address (and so its own rate-limit bucket). TRUSTED_PROXY_ADDRESSES (Settings.trusted_proxy_addresses)
lists the balancer's source addresses; requests from any other peer keep their real address. Empty =
any peer, which config.Settings.from_env allows on a local stack only.
"""
from __future__ import annotations

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


def wrap(app, hops: int, addresses: tuple[str, ...]) -> TrustedProxyFix:
    return TrustedProxyFix(app, hops, frozenset(addresses))
