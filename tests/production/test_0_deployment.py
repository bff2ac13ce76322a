"""How the production topology is set up: its databases, what each process may see."""
from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

from tools.stack.prod import PG_BIN


def _psql(env, url: str, sql: str, database: str | None = None) -> subprocess.CompletedProcess:
    """`sql` over TCP as the user of a postgresql:// URL (what the service itself connects with)."""
    parts = urlsplit(url)
    return subprocess.run([str(PG_BIN / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname,
                           "-p", str(parts.port), "-U", parts.username, "-d", database or parts.path.lstrip("/"),
                           "-c", sql], capture_output=True, text=True,
                          env={**os.environ, "PGPASSWORD": parts.password})


def test_registro_owns_its_database_and_creates_its_search_extensions(env):
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://registro:") and url.endswith("/registro")
    owned = _psql(env, url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();")
    assert owned.returncode == 0 and owned.stdout.strip() == "registro", owned.stderr
    # Migrations create the extensions as the service's own role (trusted extensions, the owner may).
    created = _psql(env, url, "BEGIN; CREATE EXTENSION IF NOT EXISTS unaccent; CREATE EXTENSION IF NOT EXISTS pg_trgm;"
                              " SELECT unaccent('Peña Ñúñez'), similarity('Pérez', 'Perez') > 0; ROLLBACK;")
    assert created.returncode == 0, created.stderr
    assert "Pena Nunez|t" in created.stdout
    # Neither service reaches the other's database.
    keycloak = f"postgresql://keycloak:{env['KC_DB_PASSWORD']}@127.0.0.1:{env['POSTGRES_PORT']}/keycloak"
    assert _psql(env, keycloak, "SELECT 1;").returncode == 0
    refused = _psql(env, keycloak, "SELECT 1;", database="registro")
    assert refused.returncode != 0 and "permission denied" in refused.stderr
    assert _psql(env, url, "SELECT 1;", database="keycloak").returncode != 0
