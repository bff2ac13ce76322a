"""`python -m registro.ops.purge` against the real Keycloak and S3 server (SPEC §9)."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from keycloak_ext import AccountNotFound

from registro.domain.storage_keys import application_prefix

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _days_ago(days: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).replace(microsecond=0).isoformat()


def _purge(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'services'}")
    return subprocess.run([sys.executable, "-m", "registro.ops.purge", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _exists(gateway, account_id: str) -> bool:
    try:
        gateway.get_account(account_id)
        return True
    except AccountNotFound:
        return False


def test_purge_deletes_expired_applications_with_their_documents(gateway, storage, applications):
    unconfirmed, _ = applications(fecha_registro=_days_ago(8))
    incomplete, _ = applications(status="pendiente_documentos", fecha_registro=_days_ago(31))
    storage.put(application_prefix(incomplete) + "documentos/curp/abc", b"%PDF-1.4", content_type="application/pdf")
    fresh, _ = applications(fecha_registro=_days_ago(6))
    young_incomplete, _ = applications(status="pendiente_documentos", fecha_registro=_days_ago(20))

    dry = _purge("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert unconfirmed in dry.stdout and incomplete in dry.stdout and fresh not in dry.stdout
    assert _exists(gateway, unconfirmed) and storage.list_keys(application_prefix(incomplete))

    done = _purge()
    assert done.returncode == 0, done.stderr
    assert f"eliminada: {incomplete} estatus=pendiente_documentos" in done.stdout
    assert not _exists(gateway, unconfirmed) and not _exists(gateway, incomplete)
    assert storage.list_keys(application_prefix(unconfirmed)) == []
    assert storage.list_keys(application_prefix(incomplete)) == []
    assert _exists(gateway, fresh) and _exists(gateway, young_incomplete)
    assert storage.list_keys(application_prefix(fresh))  # its responsiva is still there


def test_purge_sweeps_expired_captcha_uses_and_keeps_live_ones(service_settings, unique):
    from sqlalchemy import delete, select

    from registro.platform.captcha_uses import PgUsedSolutions
    from registro.platform.db import Database
    from registro.platform.db.schema import captcha_uses

    db = Database.shared(service_settings.database_url)
    used = PgUsedSolutions(db)
    old, live = f"prueba-vencida-{unique}", f"prueba-vigente-{unique}"
    now = datetime.now(timezone.utc)
    assert used.use(old, now - timedelta(seconds=10)) and used.use(live, now + timedelta(seconds=600))
    done = _purge()
    assert done.returncode == 0, done.stderr
    assert "marca(s) de captcha vencidas eliminadas" in done.stdout
    with db.transaction() as conn:
        left = set(conn.execute(select(captcha_uses.c.signature)
                                .where(captcha_uses.c.signature.in_([old, live]))).scalars())
        conn.execute(delete(captcha_uses).where(captcha_uses.c.signature == live))
    assert left == {live}
