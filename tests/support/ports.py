"""A local TCP port nobody listens on."""
from __future__ import annotations

import socket


def unused_port() -> int:
    """A port the OS just handed out and released: free to bind a server to, closed to connect to."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
