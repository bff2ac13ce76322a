"""registro's own PostgreSQL: the record of the workflow (applications, identifiers, outbox).

One `Database` per process, built from DATABASE_URL (SQLAlchemy 2 over psycopg 3). Every failure to
reach the server surfaces as `DatabaseUnavailable`, which the web layer answers with a Spanish 503:
nothing was changed, a retry completes.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or the transaction failed for a reason outside our data."""


# A connection back in the pool for longer than this is pinged before it is handed out again: one
# dropped by a PostgreSQL restart (or a failover, or a balancer's idle timeout) is replaced, not used.
# SQLAlchemy's pool_pre_ping pinged every checkout: a round trip before every transaction, ≈ 2 % of a
# registration's CPU in registro and a fifth of its transactions' statements, for connections that had
# been back in the pool for microseconds. A connection dropped within this bound of its last use
# fails its transaction (DatabaseUnavailable: nothing changed, a retry completes), and SQLAlchemy then
# discards every connection of the pool opened before it.
IDLE_PING_S = 1.0

# How long any of registro's statements waits for a row another transaction holds (an application's row
# lock, kernel/records.py, above all): no request queues behind a stuck change for longer.
LOCK_WAIT_S = 10

# Migrations (migrations/env.py). Each statement of a migration waits at most MIGRATION_LOCK_WAIT_S for its
# table's lock: a DDL lock queued behind a long transaction makes every later statement on that table (the
# outbox's INSERTs among them) queue behind it, so it gives way instead, and the migration is tried again
# after a pause, MIGRATION_ATTEMPTS times (≈ 2 min) before the start fails ("registro no arranca").
MIGRATION_LOCK_WAIT_S = 3.0
MIGRATION_ATTEMPTS = 20
MIGRATION_PAUSE_S = 3.0

_SHARED: dict[str, "Database"] = {}
_SHARED_LOCK = threading.Lock()
_RETURNED_AT = "registro.returned_at"
_clock = time.monotonic  # the tests move it forward instead of waiting


def _ping_when_idle(engine: Engine, idle_ping_s: float) -> None:
    """SQLAlchemy's checkout hook: a connection idle past `idle_ping_s` is pinged; a dead one raises
    DisconnectionError, on which the pool discards it and hands out a fresh one (up to three tries)."""

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection, record) -> None:
        record.info[_RETURNED_AT] = _clock()

    @event.listens_for(engine, "checkout")
    def handed_out(dbapi_connection, record, proxy) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or _clock() - returned_at < idle_ping_s:
            return  # just opened, or just used
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the connection is not usable
            raise DisconnectionError(type(exc).__name__) from exc
        if not alive:
            raise DisconnectionError("ping")


class Database:
    @classmethod
    def shared(cls, url: str) -> "Database":
        """One engine (one connection pool) per URL per process, however many apps the process builds
        (tests build hundreds; each pool would hold its own connections until the server refuses more)."""
        with _SHARED_LOCK:
            db = _SHARED.get(url)
            if db is None:
                db = _SHARED[url] = cls(url)
            return db

    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 5,
                 idle_ping_s: float = IDLE_PING_S, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self.url = url
        # Every statement waits at most `lock_wait_s` for a lock, set once per connection (a `SET LOCAL`
        # before each application's row lock cost a round trip per change); past it, PostgreSQL refuses
        # with lock_not_available (55P03), which the record lock turns into RecordBusy (a 503: retry).
        # hide_parameters: an unexpected database error is logged with its traceback (web/errors.py), and
        # SQLAlchemy's message would carry the statement's bound values — names, emails, CURPs, passports.
        self.engine: Engine = create_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=5, hide_parameters=True,
            connect_args={"connect_timeout": 5, "options": f"-c lock_timeout={int(lock_wait_s * 1000)}"})
        _ping_when_idle(self.engine, idle_ping_s)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise DatabaseUnavailable(type(exc.orig).__name__ if exc.orig else type(exc).__name__) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(type(exc).__name__) from exc
            raise

    def ping(self) -> None:
        """Raises DatabaseUnavailable unless the server answers (the readiness check)."""
        with self.transaction() as conn:
            conn.execute(text("SELECT 1"))
