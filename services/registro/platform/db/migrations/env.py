"""Alembic's environment: run by registro.platform.db.migrate, online only, under an advisory lock
so replicas starting together apply each migration once."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from registro.platform.db.schema import metadata

MIGRATION_LOCK = 7_202_611  # pg_advisory_lock key: any constant the application uses for nothing else

config = context.config
connectable = config.attributes.get("connection")


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
    try:
        context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()


if connectable is not None:
    run(connectable)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
