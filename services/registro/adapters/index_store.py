"""Storage of the review-queue index (workflow/queue_index.py): the few sorted-set, set and hash
operations it is built from, with Redis semantics — on Redis (shared by every replica) or in
process (unit tests, one process without REDIS_URL). Keys are relative; RedisBackend prefixes them."""
from __future__ import annotations

import bisect
import secrets
import threading
from typing import Protocol, runtime_checkable

PREFIX = "au:cola:"


class QueueIndexUnavailable(Exception):
    """The index cannot be read or written now (Redis down)."""


@runtime_checkable
class IndexBackend(Protocol):
    """The few sorted-set/set/hash operations the index is built from (Redis semantics)."""

    def apply(self, ops: list[tuple]) -> None: ...  # atomically: ("hset"|"hdel"|"zadd"|"zrem"|"sadd"|"srem", …)

    def hget(self, member: str) -> str | None: ...

    def hmget(self, members: list[str]) -> list[str | None]: ...

    def zcard(self, key: str) -> int: ...

    def zcards(self, keys: list[str]) -> list[int]: ...

    def zrange(self, key: str, start: int, stop: int) -> list[str]: ...

    def zranks(self, key: str, members: list[str]) -> list[int | None]: ...

    def zcount(self, key: str, low: float, high: float) -> int: ...

    def zrangebyscore(self, key: str, low: float, high: float) -> list[tuple[str, float]]: ...

    def zscores(self, key: str, members: list[str]) -> list[float | None]: ...

    def sinter(self, keys: list[str]) -> set[str]: ...

    def oldest_of(self, keys: list[str], limit: int) -> list[str]: ...  # members of every set, oldest first

    def clear(self) -> None: ...


class MemoryBackend:
    """In-process backend: unit tests and a single process without REDIS_URL."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._hash: dict[str, str] = {}
        self._z: dict[str, tuple[list[tuple[float, str]], dict[str, float]]] = {}
        self._s: dict[str, set[str]] = {}

    def _zset(self, key: str):
        return self._z.setdefault(key, ([], {}))

    def apply(self, ops: list[tuple]) -> None:
        with self._lock:
            for op, *args in ops:
                if op == "hset":
                    self._hash[args[0]] = args[1]
                elif op == "hdel":
                    self._hash.pop(args[0], None)
                elif op == "zadd":
                    key, member, score = args
                    ordered, scores = self._zset(key)
                    if member in scores:
                        ordered.remove((scores[member], member))
                    scores[member] = float(score)
                    bisect.insort(ordered, (float(score), member))
                elif op == "zrem":
                    key, member = args
                    ordered, scores = self._zset(key)
                    if member in scores:
                        ordered.remove((scores.pop(member), member))
                elif op == "sadd":
                    self._s.setdefault(args[0], set()).add(args[1])
                elif op == "srem":
                    members = self._s.get(args[0])
                    if members is not None:
                        members.discard(args[1])
                        if not members:
                            del self._s[args[0]]
                else:
                    raise ValueError(op)

    def hget(self, member: str) -> str | None:
        with self._lock:
            return self._hash.get(member)

    def hmget(self, members: list[str]) -> list[str | None]:
        with self._lock:
            return [self._hash.get(m) for m in members]

    def zcard(self, key: str) -> int:
        with self._lock:
            return len(self._zset(key)[0])

    def zcards(self, keys: list[str]) -> list[int]:
        return [self.zcard(k) for k in keys]

    def zrange(self, key: str, start: int, stop: int) -> list[str]:
        with self._lock:
            ordered = self._zset(key)[0]
            end = len(ordered) if stop == -1 else stop + 1
            return [m for _, m in ordered[start:end]]

    def zranks(self, key: str, members: list[str]) -> list[int | None]:
        with self._lock:
            ordered, scores = self._zset(key)
            return [bisect.bisect_left(ordered, (scores[m], m)) if m in scores else None for m in members]

    def zcount(self, key: str, low: float, high: float) -> int:
        with self._lock:
            return sum(1 for s, _ in self._zset(key)[0] if low <= s <= high)

    def zrangebyscore(self, key: str, low: float, high: float) -> list[tuple[str, float]]:
        with self._lock:
            return [(m, s) for s, m in self._zset(key)[0] if low <= s <= high]

    def zscores(self, key: str, members: list[str]) -> list[float | None]:
        with self._lock:
            scores = self._zset(key)[1]
            return [scores.get(m) for m in members]

    def sinter(self, keys: list[str]) -> set[str]:
        with self._lock:
            sets = [self._s.get(k, set()) for k in keys]
            return set.intersection(*sets) if sets else set()

    def oldest_of(self, keys: list[str], limit: int) -> list[str]:
        with self._lock:
            ids = self.sinter(keys)
            scores = self._zset("z:all")[1]
            return [m for _, m in sorted((scores[m], m) for m in ids if m in scores)[:limit]]

    def clear(self) -> None:
        with self._lock:
            self._hash.clear()
            self._z.clear()
            self._s.clear()


class RedisBackend:
    """Redis backend: every replica reads and writes the same index."""

    def __init__(self, url: str, prefix: str = PREFIX, timeout_s: float = 2.0) -> None:
        import redis

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s, health_check_interval=30)
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _run(self, fn):
        try:
            return fn()
        except self._errors as exc:
            raise QueueIndexUnavailable(type(exc).__name__) from exc

    def apply(self, ops: list[tuple]) -> None:
        def run():
            pipe = self.client.pipeline(transaction=True)
            for op, *args in ops:
                if op == "hset":
                    pipe.hset(self._k("d"), args[0], args[1])
                elif op == "hdel":
                    pipe.hdel(self._k("d"), args[0])
                elif op == "zadd":
                    pipe.zadd(self._k(args[0]), {args[1]: float(args[2])})
                elif op == "zrem":
                    pipe.zrem(self._k(args[0]), args[1])
                elif op == "sadd":
                    pipe.sadd(self._k(args[0]), args[1])
                elif op == "srem":
                    pipe.srem(self._k(args[0]), args[1])
                else:
                    raise ValueError(op)
            pipe.execute()
        self._run(run)

    def hget(self, member: str) -> str | None:
        return self._run(lambda: self.client.hget(self._k("d"), member))

    def hmget(self, members: list[str]) -> list[str | None]:
        if not members:
            return []
        return self._run(lambda: self.client.hmget(self._k("d"), members))

    def zcard(self, key: str) -> int:
        return self._run(lambda: self.client.zcard(self._k(key)))

    def zcards(self, keys: list[str]) -> list[int]:
        def run():
            pipe = self.client.pipeline(transaction=False)
            for k in keys:
                pipe.zcard(self._k(k))
            return pipe.execute()
        return self._run(run)

    def zrange(self, key: str, start: int, stop: int) -> list[str]:
        return self._run(lambda: self.client.zrange(self._k(key), start, stop))

    def zranks(self, key: str, members: list[str]) -> list[int | None]:
        def run():
            pipe = self.client.pipeline(transaction=False)
            for m in members:
                pipe.zrank(self._k(key), m)
            return pipe.execute()
        return self._run(run) if members else []

    def zcount(self, key: str, low: float, high: float) -> int:
        return self._run(lambda: self.client.zcount(self._k(key), low, high))

    def zrangebyscore(self, key: str, low: float, high: float) -> list[tuple[str, float]]:
        return self._run(lambda: [(m, float(s)) for m, s in
                                  self.client.zrangebyscore(self._k(key), low, high, withscores=True)])

    def zscores(self, key: str, members: list[str]) -> list[float | None]:
        return self._run(lambda: self.client.zmscore(self._k(key), members)) if members else []

    def sinter(self, keys: list[str]) -> set[str]:
        return self._run(lambda: set(self.client.sinter([self._k(k) for k in keys]))) if keys else set()

    def oldest_of(self, keys: list[str], limit: int) -> list[str]:
        """Server-side: intersect the term sets with the queue (weight 0, so the score stays the
        submission time) into a short-lived key and read its first `limit` — one round trip, and the
        work for a common surname stays in Redis instead of shipping thousands of ids here."""
        if not keys:
            return []
        def run():
            tmp = self._k(f"tmp:{secrets.token_hex(8)}")
            pipe = self.client.pipeline(transaction=True)
            pipe.zinterstore(tmp, {self._k("z:all"): 1, **{self._k(k): 0 for k in keys}}, aggregate="SUM")
            pipe.zrange(tmp, 0, limit - 1)
            pipe.delete(tmp)
            return pipe.execute()[1]
        return self._run(run)

    def clear(self) -> None:
        def run():
            batch = []
            for key in self.client.scan_iter(match=self.prefix + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.client.delete(*batch)
                    batch = []
            if batch:
                self.client.delete(*batch)
        self._run(run)
