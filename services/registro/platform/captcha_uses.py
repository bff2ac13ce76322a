"""The captcha solutions already used (adapters/captcha.py `UsedSolutions`) in PostgreSQL: the primary
key on the signature's hash lets one use through, on every worker and replica; the sweep is one DELETE
on the expiry index. Its in-memory twin is in tests/fakes.py; tests/support/state_contract.py checks both."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from registro.platform.db import Database
from registro.platform.db.schema import captcha_uses


class PgUsedSolutions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def use(self, signature_sha256: str, expires_at: datetime) -> bool:
        # ON CONFLICT DO NOTHING: a replay is an answer, not an error the transaction has to undo.
        with self.db.transaction() as conn:
            inserted = conn.execute(insert(captcha_uses).values(signature=signature_sha256, expires_at=expires_at)
                                    .on_conflict_do_nothing(index_elements=[captcha_uses.c.signature])
                                    .returning(captcha_uses.c.signature))
            return inserted.first() is not None

    def forget_expired(self, now: datetime) -> int:
        with self.db.transaction() as conn:
            return conn.execute(delete(captcha_uses).where(captcha_uses.c.expires_at < now)).rowcount
