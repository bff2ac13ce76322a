"""Operator commands, each `python -m registro.ops.<command>`: purge (expired applications and the
retention period's documents), datos (ARCO: export or cancel a person's data), postal (the postal-code
catalog), backfill (moving a realm of the earlier design into the database). `make migrate` runs the
database's own (registro.platform.db.migrate)."""
