"""Server-side console sessions: the browser's cookie holds only a random id, the session itself
lives here, so logging out (or an administrator's revocation) ends it for every copy of the cookie
and on every replica. Redis when REDIS_URL is set, in-process otherwise (unit tests, one process).

A session is state that may be lost (issue 20): with Redis unreachable every method raises
SessionsUnavailable, and the console asks the reviewer to log in again (web/console_auth.py)."""
from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any, Protocol, runtime_checkable


class SessionsUnavailable(Exception):
    """The session store cannot be reached now."""


@runtime_checkable
class ConsoleSessions(Protocol):
    def create(self, data: dict[str, Any], ttl_s: int) -> str: ...

    def get(self, session_id: str) -> dict[str, Any] | None: ...

    def update(self, session_id: str, data: dict[str, Any]) -> None: ...

    def delete(self, session_id: str) -> None: ...

    def ping(self) -> None:
        """Returns when the store answers; raises SessionsUnavailable otherwise (/health/ready)."""


class MemorySessions:
    def __init__(self, clock=time.time) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}
        self.clock = clock

    def create(self, data: dict[str, Any], ttl_s: int) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._data[session_id] = (self.clock() + ttl_s, dict(data))
        return session_id

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._data.get(session_id)
            if found is None:
                return None
            if found[0] <= self.clock():
                del self._data[session_id]
                return None
            return dict(found[1])

    def update(self, session_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            if session_id in self._data:
                self._data[session_id] = (self._data[session_id][0], dict(data))

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._data.pop(session_id, None)

    def ping(self) -> None:
        return None


class RedisSessions:
    PREFIX = "au:consola:"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        import redis

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s)

    def _run(self, fn):
        try:
            return fn()
        except self._errors as exc:
            raise SessionsUnavailable(type(exc).__name__) from exc

    def create(self, data: dict[str, Any], ttl_s: int) -> str:
        session_id = secrets.token_urlsafe(32)
        self._run(lambda: self.client.set(self.PREFIX + session_id, json.dumps(data), ex=int(ttl_s)))
        return session_id

    def get(self, session_id: str) -> dict[str, Any] | None:
        raw = self._run(lambda: self.client.get(self.PREFIX + session_id))
        return json.loads(raw) if raw else None

    def update(self, session_id: str, data: dict[str, Any]) -> None:
        # keepttl: a session never outlives the working day it was opened for
        self._run(lambda: self.client.set(self.PREFIX + session_id, json.dumps(data), keepttl=True, xx=True))

    def delete(self, session_id: str) -> None:
        self._run(lambda: self.client.delete(self.PREFIX + session_id))

    def ping(self) -> None:
        self._run(self.client.ping)


def sessions_for(redis_url: str | None) -> ConsoleSessions:
    return RedisSessions(redis_url) if redis_url else MemorySessions()
