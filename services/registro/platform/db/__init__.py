"""registro's own PostgreSQL: the record of the workflow (applications, identifiers, outbox).

One `Database` per process, built from DATABASE_URL (SQLAlchemy 2 over psycopg 3). Every failure to
reach the server surfaces as `DatabaseUnavailable`, which the web layer answers with a Spanish 503:
nothing was changed, a retry completes.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or the transaction failed for a reason outside our data."""


_SHARED: dict[str, "Database"] = {}
_SHARED_LOCK = threading.Lock()


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

    def __init__(self, url: str, *, pool_size: int = 5, max_overflow: int = 5) -> None:
        self.url = url
        # pool_pre_ping: a connection dropped by a PostgreSQL restart is replaced, not handed out.
        self.engine: Engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                                            pool_timeout=5, connect_args={"connect_timeout": 5})

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
