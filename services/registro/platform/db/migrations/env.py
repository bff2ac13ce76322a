"""Alembic's environment: run by registro.platform.db.migrate, online only, under an advisory lock
so replicas starting together apply each migration once.

A replica that finds the lock taken says so before it waits (another one is migrating). The migration's
connection carries a short `lock_timeout` (platform/db.MIGRATION_LOCK_WAIT_S): a migration whose DDL
waits for a table held by a long transaction gives way within seconds instead of making every later
statement on that table queue behind it; it is tried again after a pause, up to MIGRATION_ATTEMPTS times,
and then the start fails ("registro no arranca", gunicorn_conf._migrate) with a log line that says why."""
from __future__ import annotations

import logging
import time

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from registro.platform import db as platform_db
from registro.platform.db.schema import metadata

MIGRATION_LOCK = 7_202_611  # pg_advisory_lock key: any constant the application uses for nothing else
LOCK_NOT_AVAILABLE = "55P03"

log = logging.getLogger("registro.platform.db.migrations")

config = context.config
connectable = config.attributes.get("connection")


def _take_turn(connection) -> None:
    if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK}).scalar_one():
        return
    log.warning("migraciones: otro proceso está migrando la base de datos; se espera a que termine")
    started = time.monotonic()
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
    log.info("migraciones: turno obtenido tras %.1f s de espera", time.monotonic() - started)


def _lock_refused(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE


def _migrate() -> None:
    attempts = platform_db.MIGRATION_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            context.run_migrations()  # each migration in its own transaction: a refused one is rolled back
            return
        except OperationalError as exc:
            if not _lock_refused(exc):
                raise
            if attempt == attempts:
                log.critical("migraciones: una tabla sigue retenida por otra transacción tras %d intentos; se "
                             "desiste y registro no arranca (busque la transacción larga en pg_stat_activity)",
                             attempts)
                raise
            log.warning("migraciones: una tabla está retenida por otra transacción (más de %.0f s); intento %d "
                        "de %d, se reintenta en %.0f s", platform_db.MIGRATION_LOCK_WAIT_S, attempt, attempts,
                        platform_db.MIGRATION_PAUSE_S)
            time.sleep(platform_db.MIGRATION_PAUSE_S)


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
    _take_turn(connection)
    try:
        # Set only once the turn is taken (an advisory lock obeys lock_timeout too), and committed: a
        # refused migration's rollback must not undo it.
        connection.execute(text(f"SET lock_timeout = {int(platform_db.MIGRATION_LOCK_WAIT_S * 1000)}"))
        connection.commit()
        _migrate()
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()


if connectable is not None:
    run(connectable)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), hide_parameters=True)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
