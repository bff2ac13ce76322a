"""Server-side console sessions: the browser's cookie holds only a random id, the session itself
lives here, so logging out (or an administrator's revocation) ends it for every copy of the cookie
and on every replica. Redis when REDIS_URL is set, in-process otherwise (unit tests, one process).

A session is state that may be lost (issue 20): with Redis unreachable every method raises
SessionsUnavailable, and the console asks the reviewer to log in again (review/console_auth.py).

A session whose data names Keycloak's session (`sid`) and account (`id`, the token's `sub`) is
indexed by both, so a back-channel logout token (review/backchannel_logout.py), which carries one or
both, finds every console session it ends (OpenID Connect Back-Channel Logout 1.0, §2.5)."""
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

    def end_matching(self, sid: str | None, sub: str | None) -> int:
        """Deletes the sessions opened in Keycloak session `sid` (when given) of account `sub` (when
        given); returns how many were ended."""

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

    def end_matching(self, sid: str | None, sub: str | None) -> int:
        if not sid and not sub:
            return 0
        with self._lock:
            ended = [k for k, (_, data) in self._data.items() if _matches(data, sid, sub)]
            for key in ended:
                del self._data[key]
        return len(ended)

    def ping(self) -> None:
        return None


def _matches(data: dict[str, Any], sid: str | None, sub: str | None) -> bool:
    return (not sid or data.get("sid") == sid) and (not sub or data.get("id") == sub)


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

    # Sets of session ids by Keycloak session and by account. Each set's expiry is pushed to the
    # newest session's (every session gets the same lifetime, so the newest outlives the others);
    # a member whose session has already expired is dropped when a logout reads the set.
    BY_SID = PREFIX + "sid:"
    BY_SUB = PREFIX + "sub:"

    def create(self, data: dict[str, Any], ttl_s: int) -> str:
        session_id = secrets.token_urlsafe(32)
        ttl = int(ttl_s)

        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self.PREFIX + session_id, json.dumps(data), ex=ttl)
            for key in self._index_keys(data.get("sid"), data.get("id")):
                pipe.sadd(key, session_id)
                pipe.expire(key, ttl)
            pipe.execute()

        self._run(write)
        return session_id

    def _index_keys(self, sid: str | None, sub: str | None) -> list[str]:
        return [prefix + value for prefix, value in ((self.BY_SID, sid), (self.BY_SUB, sub)) if value]

    def end_matching(self, sid: str | None, sub: str | None) -> int:
        keys = self._index_keys(sid, sub)
        if not keys:
            return 0

        def end() -> int:
            # by sid when there is one (the narrower set), else every session of the account
            candidates = self.client.smembers(keys[0])
            ended = 0
            for session_id in candidates:
                raw = self.client.get(self.PREFIX + session_id)
                if raw is None or _matches(json.loads(raw), sid, sub):
                    ended += self.client.delete(self.PREFIX + session_id)
                    self.client.srem(keys[0], session_id)
            return ended

        return self._run(end)

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
