"""How the production topology is set up: its databases, what each process may see."""
from __future__ import annotations

import os
import pwd
import re
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tools.stack.prod import PG_BIN, confinements, load_secrets, service_users


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


def _group(pgid: int) -> list[int]:
    """Every process of a service (the runner starts each in a process group of its own)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid:
            found.append(int(stat_file.parent.name))
    return found


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def test_each_process_sees_only_its_own_secrets_and_runs_as_its_own_user(prod):
    secret = load_secrets(prod.profile)
    rules = confinements(prod.profile)
    users = service_users(prod.profile)
    assert set(rules) == set(users) == set(prod.services)
    if os.geteuid() == 0:
        # Binaries and scripts of system interpreters always can; Python services when their
        # interpreter is reachable (the stack warns otherwise).
        assert all(users[n] for n in ("postgres", "redis", "s3", "keycloak-a", "keycloak-b", "balancer")), users
    for name in prod.services:
        processes = _group(prod.pid_of(name))
        assert processes, name
        expected_uid = pwd.getpwnam(users[name]).pw_uid if users[name] else os.geteuid()
        for pid in processes:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            foreign = [s for s, value in secret.items() if s not in rules[name].secrets and value in environ]
            assert not foreign, f"{name} (pid {pid}) recibe {foreign}"
            assert _uid(pid) == expected_uid, f"{name} (pid {pid}) no corre como {users[name]}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_documents_queue_logs_and_inbox_are_private(prod, env, s3):
    data = prod.profile.data
    s3.put_object(Bucket=env["S3_BUCKET"], Key="prueba-permisos/documento.pdf", Body=b"%PDF-1.4 prueba")
    document = next((data / "s3").rglob("documento.pdf"))
    assert _mode(document) == 0o600
    assert all(_mode(folder) == 0o700 for folder in document.parents if data / "s3" in (folder, *folder.parents))
    s3.delete_object(Bucket=env["S3_BUCKET"], Key="prueba-permisos/documento.pdf")
    aof = [p for p in (data / "redis").rglob("*") if p.is_file() and "appendonly" in p.name]
    assert aof and all(_mode(p) == 0o600 for p in aof) and _mode(data / "redis") == 0o700
    logs = list((data / "logs").glob("*.log"))
    assert len(logs) >= len(prod.services) and all(_mode(p) == 0o600 for p in logs) and _mode(data / "logs") == 0o700
    inbox = data / "mail" / "mail.sqlite"
    assert _mode(inbox) == 0o600 and _mode(inbox.parent) == 0o700
    assert _mode(data / "secrets.env") == 0o600 and _mode(data) == 0o711
