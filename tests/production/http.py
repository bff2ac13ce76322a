"""A `requests` session through the balancer that answers like Flask's test client, so the shared
helpers of tests/support (registration, applications, reviewer) drive the real topology."""
from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from tests.support.oidc import trust_loopback_cookies


@dataclass
class Answer:
    """The parts of a Flask test response the helpers read."""

    raw: requests.Response

    @property
    def status_code(self) -> int:
        return self.raw.status_code

    @property
    def headers(self):
        return self.raw.headers

    @property
    def location(self) -> str | None:
        return self.raw.headers.get("Location")

    def get_data(self, as_text: bool = False):
        return self.raw.text if as_text else self.raw.content

    @property
    def text(self) -> str:
        return self.raw.text

    def get_json(self):
        return self.raw.json()


class BalancerClient:
    """Relative paths against the public front (`base`); redirects are not followed, as in Flask."""

    def __init__(self, base: str, session: requests.Session | None = None) -> None:
        self.base = base.rstrip("/")
        self.session = session or requests.Session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else urljoin(self.base + "/", path.lstrip("/"))

    def get(self, path: str, **kwargs) -> Answer:
        r = self.session.get(self.url(path), allow_redirects=False, timeout=30, **kwargs)
        trust_loopback_cookies(self.session)
        return Answer(r)

    def post(self, path: str, data: dict | None = None, content_type: str | None = None, **kwargs) -> Answer:
        fields, files = {}, {}
        for key, value in (data or {}).items():
            if isinstance(value, tuple) and value and isinstance(value[0], io.IOBase):
                files[key] = (value[1], value[0].read())
            else:
                fields[key] = value
        r = self.session.post(self.url(path), data=fields, files=files or None, allow_redirects=False,
                              timeout=60, **kwargs)
        trust_loopback_cookies(self.session)
        return Answer(r)

    def replica(self) -> str | None:
        """The replica the balancer pinned this client to (its persistence cookie)."""
        return self.session.cookies.get("REGISTRO_NODO")

    def pin(self, replica: str) -> None:
        """Asks the balancer for one replica (it still sends the request elsewhere if that one is down)."""
        host = self.base.split("//", 1)[1].split(":")[0]
        self.session.cookies.set("REGISTRO_NODO", replica, domain=host, path="/")
