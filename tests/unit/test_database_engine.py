"""How registro builds its database engine (the behaviour against PostgreSQL: tests/integration/test_outbox_operations.py)."""
from __future__ import annotations

from registro.platform.db import Database


def test_the_engine_keeps_bound_values_out_of_its_errors():
    """An unexpected database error is logged with its traceback (web/errors.py): without this flag its
    message lists the statement's values — names, emails, CURPs, passports."""
    database = Database("postgresql+psycopg://registro@127.0.0.1:1/registro")  # never connects
    try:
        assert database.engine.hide_parameters
    finally:
        database.engine.dispose()
