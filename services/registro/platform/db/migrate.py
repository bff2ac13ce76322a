"""`python -m registro.platform.db.migrate [upgrade|downgrade|current] [revision]` — `make migrate`.

registro applies `upgrade head` itself at start (gunicorn's master, before forking workers); the
command is for operators: to migrate ahead of a deploy, to see the current revision, or to step back.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.platform.db.migrate",
                                     description="Migraciones de la base de datos de registro.")
    parser.add_argument("command", choices=["upgrade", "downgrade", "current"], nargs="?", default="upgrade")
    parser.add_argument("revision", nargs="?", default=None)
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("error: falta DATABASE_URL", file=sys.stderr)
        return 2
    if args.command == "upgrade":
        upgrade(url, args.revision or "head")
    elif args.command == "downgrade":
        downgrade(url, args.revision or "-1")
    print(f"revisión actual: {current(url) or '(vacía)'}; última: {head()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
