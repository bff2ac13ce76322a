"""The review queue's in-memory twin (review/queue.PgQueueIndex): the same reads over rows
shaped as the `applications` table's and over the leases, checked by the same contract
(tests/support/queue_contract.py) as the SQL so it cannot answer what PostgreSQL would not.

`rows()` gives the application rows (mappings with the table's column names), `leases()` the leases
as (account_id, expires_at epoch, released); both are read at every call, as a query reads the tables.
`rows_of_identity(identity)` derives the rows from the fake Keycloak's accounts, where the unit tests'
applications keep their record."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Mapping

from registro.domain.search_text import matches
from registro.kernel.records import record_columns
from registro.review.queue import (SEARCH_LIMIT, Counts, IndexPage, QueueEntry, QueueFilters, page_bounds,
                                           search_words)

_FAR = datetime.max.replace(tzinfo=timezone.utc)


def rows_of_identity(identity) -> list[dict]:
    """Every account holding an application, as the row kernel/records.py keeps for it (its columns derived
    by the same `record_columns`)."""
    rows = []
    for account in list(identity.accounts.values()):
        attrs = dict(account.attributes)
        estatus = attrs.get("estatus")
        if not estatus:
            continue  # a reviewer, not an application
        rows.append({"id": account.id, "account_id": account.id, "folio": attrs.get("folio", ""),
                     "state": "rechazada" if estatus == "rechazado" else "activa",
                     "es_extranjero": attrs.get("es_extranjero") == "true",
                     **record_columns(email=account.email, first_name=account.first_name,
                                      last_name=account.last_name, attributes=attrs)})
    return rows


def _entry(row: Mapping) -> QueueEntry:
    submitted = row["submitted_at"]
    return QueueEntry(account_id=row["account_id"], folio=row["folio"],
                      full_name=f"{row['first_name']} {row['last_name']}".strip(), tipo_usuario=row["tipo_usuario"],
                      es_extranjero=row["es_extranjero"],
                      submitted_at=submitted.astimezone(timezone.utc).isoformat() if submitted else "",
                      estatus=row["estatus"] or "")


def _order(row: Mapping):
    return (row["submitted_at"] or _FAR, row["submitted_at"] is None, str(row["id"]))


class FakeQueueIndex:
    def __init__(self, rows: Callable[[], Iterable[Mapping]],
                 leases: Callable[[], Iterable[tuple[str, float, bool]]] = lambda: (), clock=time.time) -> None:
        self.rows = rows
        self.leases = leases
        self.clock = clock

    def _pending(self, filters: QueueFilters = QueueFilters()) -> list[Mapping]:
        out = [r for r in self.rows() if r["estatus"] == "en_revision" and r["state"] == "activa"
               and (not filters.tipo or r["tipo_usuario"] == filters.tipo)
               and (filters.extranjero not in ("si", "no") or r["es_extranjero"] == (filters.extranjero == "si"))]
        return sorted(out, key=_order)

    def _active(self) -> dict[str, float]:
        now = self.clock()
        return {account_id: expires for account_id, expires, released in self.leases()
                if not released and expires > now}

    def overview(self, filters: QueueFilters, size: int) -> tuple[Counts, IndexPage | None]:
        return self.counts(), (self.page(filters, size) if size else None)

    def counts(self) -> Counts:
        pending = self._pending()
        by_tipo: dict[str, int] = {}
        for r in pending:
            by_tipo[r["tipo_usuario"]] = by_tipo.get(r["tipo_usuario"], 0) + 1
        active = self._active()
        return Counts(total=len(pending), by_tipo=by_tipo,
                      by_extranjero={"si": sum(1 for r in pending if r["es_extranjero"]),
                                     "no": sum(1 for r in pending if not r["es_extranjero"])},
                      reserved=sum(1 for r in pending if r["account_id"] in active))

    def page(self, filters: QueueFilters, size: int) -> IndexPage:
        active = self._active()
        rows = self._pending(filters)
        if filters.reserva == "reservadas":
            rows = [r for r in rows if r["account_id"] in active]
        elif filters.reserva == "libres":
            rows = [r for r in rows if r["account_id"] not in active]
        page, pages, offset = page_bounds(len(rows), size, filters.page)
        shown = rows[offset:offset + size]
        return IndexPage(entries=[_entry(r) for r in shown],
                         reserved={r["account_id"]: active[r["account_id"]] for r in shown if r["account_id"] in active},
                         matching=len(rows), page=page, pages=pages)

    def reserved(self) -> dict[str, float]:
        active = self._active()
        return {r["account_id"]: active[r["account_id"]] for r in self._pending() if r["account_id"] in active}

    def unreserved(self, filters: QueueFilters, chunk: int = 50) -> Iterator[str]:
        seen: tuple | None = None
        while True:
            active = self._active()
            rows = [r for r in self._pending(filters) if r["account_id"] not in active
                    and (seen is None or _order(r) > seen)][:chunk]
            if not rows:
                return
            yield from (r["account_id"] for r in rows)
            seen = _order(rows[-1])

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[QueueEntry]:
        words = search_words(query)
        if not words:
            return []
        found = [r for r in self.rows() if r["state"] in ("activa", "rechazada")
                 and matches(r["search_text"], words)]
        found.sort(key=lambda r: (r["estatus"] != "en_revision", *_order(r)))
        return [_entry(r) for r in found[:limit]]

    def age_counts(self, now: float, edges_days: Iterable[tuple[float, float]]) -> list[int]:
        stamps = [r["submitted_at"].timestamp() for r in self._pending() if r["submitted_at"] is not None]
        return [sum(1 for s in stamps if now - min(hi, 1e6) * 86400 < s <= now - lo * 86400)
                for lo, hi in edges_days]

    def oldest(self) -> QueueEntry | None:
        pending = self._pending()
        return _entry(pending[0]) if pending else None

    def get(self, account_id: str) -> QueueEntry | None:
        return next((_entry(r) for r in self._pending() if r["account_id"] == account_id), None)

    def all_ids(self) -> list[str]:
        return [r["account_id"] for r in self._pending()]
