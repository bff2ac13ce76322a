"""The decision row of a review round (PostgreSQL `decisions`): how decisions.py makes one decision per
round out of any number of identical POSTs, and finishes one a crash interrupted.

A row's `state`:
  en_curso     created by the request deciding (before the application changes); taken over by another
               request of the same decision only once stale (updated_at older than STALE_DECISION_S);
  completando  a repeated POST is finishing it (audit event, lease); taken over once stale
               (STALE_COMPLETION_S);
  aplicada     finished; `record.auditoria` says whether its audit event is still owed (`pendiente`).
Every "stale" is measured with the database's clock (`now()`), so replicas' clocks do not matter.
Writes that finish or undo a row name the version they read (`updated_at`): a row another request
took over meanwhile is left alone.

`DecisionStore` is the seam: `PgDecisionStore` here, an in-memory twin in tests/fakes.py, both checked
by tests/support/review_contract.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from registro.platform.db import Database
from registro.platform.db.schema import DECISIONS_OWED, decisions

EN_CURSO, COMPLETANDO, APLICADA = "en_curso", "completando", "aplicada"
# ix_decisions_owed's predicate, repeated in `owed` so the planner reads that small index, not the table
# (parenthesised: ANDed with the conditions, its OR must not bind to them).
OWED_PREDICATE = text(f"({DECISIONS_OWED})")


@dataclass(frozen=True)
class DecisionRow:
    account_id: str
    ronda: str
    decision: str  # aprobar | corregir | rechazar
    state: str
    record: dict[str, Any]  # nonce (`intento`), held outbox rows (`correos`), reviewer, reasons, `auditoria`
    version: Any  # opaque: what finish/delete compare with (updated_at)


@runtime_checkable
class DecisionStore(Protocol):
    def create(self, account_id: str, ronda: str, decision: str, record: dict) -> DecisionRow | None:
        """The round's row, `en_curso`; None when the round already has one (the other request won)."""
        ...

    def take_over_stale(self, account_id: str, ronda: str, decision: str, record: dict,
                        stale_s: float) -> DecisionRow | None:
        """Replaces the round's row with a fresh `en_curso` one, only if it is `en_curso` and was last
        written more than `stale_s` seconds ago (its request died); else None."""
        ...

    def get(self, account_id: str, ronda: str) -> DecisionRow | None:
        ...

    def take_for_completion(self, account_id: str, ronda: str, stale_decision_s: float,
                            stale_completion_s: float) -> DecisionRow | None:
        """Marks the round's row `completando` when it still owes its completion: `aplicada` with its
        audit event pending, `en_curso` older than stale_decision_s (a crash after the status change),
        `completando` older than stale_completion_s (a completion that died). Else None."""
        ...

    def owed(self, stale_decision_s: float, stale_completion_s: float, limit: int = 100) -> list[tuple[str, str]]:
        """(account_id, ronda) of rows take_for_completion would take now, least recently written first:
        what the background pass (decisions.Decisions.complete_owed) looks at."""
        ...

    def finish(self, row: DecisionRow, record: dict) -> bool:
        """`aplicada` with `record`, if the row is still the version read; False when another request
        took it over meanwhile."""
        ...

    def delete(self, row: DecisionRow) -> None:
        """Removes the row (its decision was not applied), if it is still the version read."""
        ...


def _owed(stale_decision_s: float, stale_completion_s: float):
    d = decisions
    return or_(
        and_(d.c.state == APLICADA, d.c.record["auditoria"].astext == "pendiente"),
        and_(d.c.state == EN_CURSO, d.c.updated_at < func.now() - timedelta(seconds=stale_decision_s)),
        and_(d.c.state == COMPLETANDO, d.c.updated_at < func.now() - timedelta(seconds=stale_completion_s)),
    )


def _row(r) -> DecisionRow:
    return DecisionRow(r.account_id, r.ronda, r.decision, r.state, dict(r.record), r.updated_at)


class PgDecisionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, account_id: str, ronda: str, decision: str, record: dict) -> DecisionRow | None:
        d = decisions
        try:
            with self.db.transaction() as conn:
                r = conn.execute(insert(d).values(account_id=account_id, ronda=ronda, decision=decision,
                                                  state=EN_CURSO, record=record).returning(d)).one()
        except IntegrityError as exc:
            if getattr(getattr(exc.orig, "diag", None), "constraint_name", "") == "uq_decisions_account_id":
                return None
            raise
        return _row(r)

    def take_over_stale(self, account_id: str, ronda: str, decision: str, record: dict,
                        stale_s: float) -> DecisionRow | None:
        d = decisions
        return self._update(and_(d.c.state == EN_CURSO, d.c.updated_at < func.now() - timedelta(seconds=stale_s)),
                            account_id, ronda, decision=decision, record=record, state=EN_CURSO,
                            created_at=func.now())

    def get(self, account_id: str, ronda: str) -> DecisionRow | None:
        d = decisions
        with self.db.transaction() as conn:
            r = conn.execute(select(d).where(d.c.account_id == account_id, d.c.ronda == ronda)).one_or_none()
        return None if r is None else _row(r)

    def take_for_completion(self, account_id: str, ronda: str, stale_decision_s: float,
                            stale_completion_s: float) -> DecisionRow | None:
        return self._update(_owed(stale_decision_s, stale_completion_s), account_id, ronda, state=COMPLETANDO)

    def owed(self, stale_decision_s: float, stale_completion_s: float, limit: int = 100) -> list[tuple[str, str]]:
        d = decisions
        with self.db.transaction() as conn:
            rows = conn.execute(select(d.c.account_id, d.c.ronda)
                                .where(OWED_PREDICATE, _owed(stale_decision_s, stale_completion_s))
                                .order_by(d.c.updated_at).limit(limit)).all()
        return [(r.account_id, r.ronda) for r in rows]

    def finish(self, row: DecisionRow, record: dict) -> bool:
        d = decisions
        return self._update(d.c.updated_at == row.version, row.account_id, row.ronda, state=APLICADA,
                            record=record) is not None

    def delete(self, row: DecisionRow) -> None:
        d = decisions
        with self.db.transaction() as conn:
            conn.execute(delete(d).where(d.c.account_id == row.account_id, d.c.ronda == row.ronda,
                                         d.c.updated_at == row.version))

    def _update(self, condition, account_id: str, ronda: str, **values) -> DecisionRow | None:
        d = decisions
        with self.db.transaction() as conn:
            r = conn.execute(update(d).where(d.c.account_id == account_id, d.c.ronda == ronda, condition)
                             .values(updated_at=func.now(), **values).returning(d)).one_or_none()
        return None if r is None else _row(r)
