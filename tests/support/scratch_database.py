"""A database of its own on the test stack's PostgreSQL (made by the cluster's superuser, owned by registro's
role, as production's is), for contract tests and benchmarks whose rows must never reach the stack's running
registro (its outbox worker would send them, its queue would list them)."""
from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy.engine import make_url

from registro.platform.db import Database, migrate


def create(database_url: str, name: str) -> str:
    """An empty database `name` (an earlier one dropped), and its URL."""
    from tools.stack.prod import psql
    from tools.stack.profiles import Profile

    profile = Profile.named("test")
    psql(profile, f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
    psql(profile, f"CREATE DATABASE {name} OWNER registro;")
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


def drop(name: str) -> None:
    from tools.stack.prod import psql
    from tools.stack.profiles import Profile

    psql(Profile.named("test"), f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


@contextlib.contextmanager
def empty(database_url: str, name: str) -> Iterator[str]:
    """The URL of an empty database, dropped afterwards."""
    url = create(database_url, name)
    try:
        yield url
    finally:
        drop(name)


@contextlib.contextmanager
def at_head(database_url: str, name: str) -> Iterator[Database]:
    """A database migrated to head, dropped afterwards."""
    with empty(database_url, name) as url:
        migrate.upgrade(url)
        database = Database(url)
        try:
            yield database
        finally:
            database.engine.dispose()
