"""The review queue, search and the supervisor's pending figures as indexed queries over registro's
PostgreSQL (issue 20 §8): nothing derived is kept anywhere else, so nothing can drift.

The application's row is the record (kernel/records.py writes `estatus`, `submitted_at`, the facets,
the names and `search_text` with every change); a reservation is a row of `review_leases` whose
`expires_at` (the database's clock) is still ahead and that was not released.

Indexes (migration 0004, mirrored in platform/db/schema.py), partial on the pending rows
(`estatus = 'en_revision' AND state = 'activa'`, a tenth of the table):
  ix_applications_queue        (submitted_at, id) INCLUDE (tipo_usuario, es_extranjero)
  ix_applications_queue_tipo   (tipo_usuario, submitted_at, id) INCLUDE (es_extranjero)
and ix_applications_search_words, GIN over the words of search_text, over every row (migration 0005;
ix_applications_search_words_pending the same over the pending rows). A page's ids come from
an index-only scan (an offset into the index, page numbers as the console links them), then those 25
rows are read; the counts per facet are the few rows of `queue_counts`, which a trigger keeps in the
transaction that changes an application (exact, nothing to rebuild); the reservations are few (one or
two per reviewer) and read once per page, so the counts of "reservadas"/"libres" are arithmetic.

Search ignores accents and case: `search_text` is normalised on write (domain/search_text.py) and the
query with the same `normalise`, punctuation around its words dropped; each word of the query (3+
characters) must begin one of the application's words or a part of one after . @ _ + - (the beginning
of a word, not any substring: domain/search_text.py says why), so "núñez, jose" finds "José Núñez",
"nunez@correo" an email, the beginning of a CURP or RFC, a passport or a folio its application,
whatever its status.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator, Protocol

from sqlalchemy import text

from keycloak_ext.catalog import USER_TYPE_LABELS

from registro.domain import status as st
from registro.domain.search_text import normalise, prefix_query
from registro.platform.db import Database

SEARCH_LIMIT = 50
MIN_WORD = 3  # shorter words begin too many of the index's words: they would read most rows


# --- entries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueEntry:
    account_id: str
    folio: str
    full_name: str
    tipo_usuario: str
    es_extranjero: bool
    submitted_at: str
    estatus: str = st.EN_REVISION

    @property
    def tipo_label(self) -> str:
        return USER_TYPE_LABELS.get(self.tipo_usuario, self.tipo_usuario or "—")

    @property
    def estatus_label(self) -> str:
        return st.LABELS.get(self.estatus, self.estatus or "—")

    @property
    def score(self) -> float:
        return submitted_score(self.submitted_at)


def submitted_score(iso: str) -> float:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def entry_for(app, submitted_at: str | None = None) -> QueueEntry:
    """An application as a queue row (what the queue's queries return for it)."""
    return QueueEntry(account_id=app.id, folio=app.folio, full_name=app.full_name, tipo_usuario=app.tipo_usuario,
                      es_extranjero=app.es_extranjero, submitted_at=submitted_at or app.submitted_at,
                      estatus=app.status)


# Typed or pasted around a word, never part of what it searches for ("Núñez, José", "(CURP)", «folio»);
# an identifier's or email's inner separators stay (domain/search_text indexes the parts after them).
_BETWEEN_WORDS = re.compile(r"[\s,;]+")
_AROUND_WORDS = "()[]{}\"'«»¿?¡!:.@_+-/"


def search_words(query: str) -> list[str]:
    """The words of what a reviewer typed that the search looks for (normalised, punctuation around
    them dropped, 3+ characters)."""
    words = (w.strip(_AROUND_WORDS) for w in _BETWEEN_WORDS.split(normalise(query)))
    return [w for w in dict.fromkeys(words) if len(w) >= MIN_WORD]


# --- filters, pages, counts ---------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilters:
    tipo: str = ""
    extranjero: str = ""  # "si" | "no" | ""
    reserva: str = ""  # "reservadas" | "libres" | ""
    page: int = 1


@dataclass(frozen=True)
class Counts:
    total: int
    by_tipo: dict[str, int]
    by_extranjero: dict[str, int]
    reserved: int


@dataclass(frozen=True)
class IndexPage:
    entries: list[QueueEntry]
    reserved: dict[str, float]  # id -> lease expiry, for the entries shown
    matching: int
    page: int
    pages: int


class QueueIndex(Protocol):
    """What the console, supervision and the metrics read; `PgQueueIndex` here, an in-memory twin
    over the same rows in tests/fakes.py."""

    def overview(self, filters: QueueFilters, size: int) -> tuple[Counts, IndexPage | None]: ...
    def page(self, filters: QueueFilters, size: int) -> IndexPage: ...
    def counts(self) -> Counts: ...
    def reserved(self) -> dict[str, float]: ...
    def unreserved(self, filters: QueueFilters, chunk: int = 50) -> Iterator[str]: ...
    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[QueueEntry]: ...
    def age_counts(self, now: float, edges_days: Iterable[tuple[float, float]]) -> list[int]: ...
    def oldest(self) -> QueueEntry | None: ...
    def get(self, account_id: str) -> QueueEntry | None: ...
    def all_ids(self) -> list[str]: ...


def page_bounds(matching: int, size: int, asked: int) -> tuple[int, int, int]:
    """(page, pages, offset): an asked page past the end shows the last one."""
    pages = max(1, -(-matching // size))
    page = min(max(1, asked), pages)
    return page, pages, (page - 1) * size


# --- SQL --------------------------------------------------------------------------------------------
# The predicate of the partial indexes, word for word (PostgreSQL matches them by implication).
PENDING = "a.estatus = 'en_revision' AND a.state = 'activa'"
# Search sees every application whose account exists (a rejected one too: its history), never an
# intent (`creando`) nor one cancelled (its personal data is gone).
SEARCHABLE = "a.state IN ('activa', 'rechazada')"
WORDS = "array_to_tsvector(string_to_array(a.search_text, ' '))"  # domain/search_text's words (0005's indexes)
ACTIVE_LEASE = "l.account_id = a.account_id AND NOT l.released AND l.expires_at > now()"
COLUMNS = ("a.account_id, a.folio, a.first_name, a.last_name, a.tipo_usuario, a.es_extranjero, a.submitted_at, "
           "a.estatus")
FOLIO = re.compile(r"^au-\d{4}-[0-9a-z]+$")  # a whole folio, as printed on the responsiva
UNBOUNDED_DAYS = 1e6  # an age bucket's upper edge at or past this is "and older"


def _facet_sql(filters: QueueFilters) -> tuple[str, dict]:
    where, params = [PENDING], {}
    if filters.tipo:
        where.append("a.tipo_usuario = :tipo")
        params["tipo"] = filters.tipo
    if filters.extranjero in ("si", "no"):
        where.append("a.es_extranjero = :ext")
        params["ext"] = filters.extranjero == "si"
    return " AND ".join(where), params


def _in_facet(filters: QueueFilters, tipo: str, extranjero: bool) -> bool:
    return (not filters.tipo or tipo == filters.tipo) and \
        (filters.extranjero not in ("si", "no") or extranjero == (filters.extranjero == "si"))


def _entry(row) -> QueueEntry:
    submitted = row.submitted_at.astimezone(timezone.utc).isoformat() if row.submitted_at else ""
    return QueueEntry(account_id=row.account_id, folio=row.folio, full_name=f"{row.first_name} {row.last_name}".strip(),
                      tipo_usuario=row.tipo_usuario, es_extranjero=row.es_extranjero, submitted_at=submitted,
                      estatus=row.estatus or "")


@dataclass(frozen=True)
class _Snapshot:
    """What every page needs first, from two small queries: the pending per (type, nationality), from
    `queue_counts`, and the active reservations of pending applications (few)."""
    facets: list[tuple[str, bool, int]]
    held: list[tuple[str, str, str, bool, float]]  # (row id, account id, type, foreign, lease expiry)

    def counts(self) -> Counts:
        by_tipo: dict[str, int] = {}
        by_ext = {"si": 0, "no": 0}
        for tipo, ext, n in self.facets:
            by_tipo[tipo] = by_tipo.get(tipo, 0) + n
            by_ext["si" if ext else "no"] += n
        return Counts(total=sum(by_ext.values()), by_tipo={t: n for t, n in by_tipo.items() if n},
                      by_extranjero=by_ext, reserved=len(self.held))

    def matching(self, filters: QueueFilters) -> int:
        in_facet = sum(n for tipo, ext, n in self.facets if _in_facet(filters, tipo, ext))
        held = sum(1 for _, _, tipo, ext, _ in self.held if _in_facet(filters, tipo, ext))
        return held if filters.reserva == "reservadas" else in_facet - held if filters.reserva == "libres" else in_facet


class PgQueueIndex:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Read only: the queue is derived from the application's row and its lease; nothing is written here.
    def _snapshot(self, conn) -> _Snapshot:
        facets = [(tipo, ext, int(n)) for tipo, ext, n in conn.execute(text(
            "SELECT tipo_usuario, es_extranjero, sum(n) FROM queue_counts GROUP BY 1, 2 HAVING sum(n) <> 0"))]
        return _Snapshot(facets, self._held(conn))

    def overview(self, filters: QueueFilters, size: int) -> tuple[Counts, IndexPage | None]:
        """The counts and (size > 0) one page, in one transaction (one snapshot: they agree)."""
        with self.db.transaction() as conn:
            snap = self._snapshot(conn)
            return snap.counts(), (self._page(conn, snap, filters, size) if size else None)

    def counts(self) -> Counts:
        with self.db.transaction() as conn:
            return self._snapshot(conn).counts()

    def page(self, filters: QueueFilters, size: int) -> IndexPage:
        with self.db.transaction() as conn:
            return self._page(conn, self._snapshot(conn), filters, size)

    def _page(self, conn, snap: _Snapshot, filters: QueueFilters, size: int) -> IndexPage:
        """The page's ids from the queue index alone (an index-only scan, however deep the page), then
        those rows and their leases."""
        matching = snap.matching(filters)
        page, pages, offset = page_bounds(matching, size, filters.page)
        where, params = _facet_sql(filters)
        held_ids = [row_id for row_id, *_ in snap.held]
        if filters.reserva == "reservadas":
            where += " AND a.id = ANY(CAST(:held AS uuid[]))"
        elif filters.reserva == "libres":
            where += " AND NOT (a.id = ANY(CAST(:held AS uuid[])))"
        rows = conn.execute(text(
            f"WITH shown AS MATERIALIZED (SELECT a.id FROM applications a WHERE {where} "
            "ORDER BY a.submitted_at, a.id LIMIT :size OFFSET :offset) "
            f"SELECT {COLUMNS} FROM shown JOIN applications a ON a.id = shown.id ORDER BY a.submitted_at, a.id"),
            {**params, "held": held_ids, "size": size, "offset": offset})
        entries = [_entry(r) for r in rows]
        expiry = {account_id: exp for _, account_id, _, _, exp in snap.held}
        return IndexPage(entries=entries, reserved={e.account_id: expiry[e.account_id] for e in entries
                                                    if e.account_id in expiry},
                         matching=matching, page=page, pages=pages)

    def reserved(self) -> dict[str, float]:
        """Active reservations of applications in review (few: one or two per reviewer at work)."""
        with self.db.transaction() as conn:
            return {account_id: exp for _, account_id, _, _, exp in self._held(conn)}

    def _held(self, conn) -> list[tuple[str, str, str, bool, float]]:
        return [tuple(r) for r in conn.execute(text(
            f"SELECT a.id, a.account_id, a.tipo_usuario, a.es_extranjero, extract(epoch FROM l.expires_at)::float8 "
            f"FROM review_leases l JOIN applications a ON {ACTIVE_LEASE} WHERE {PENDING}"))]

    def unreserved(self, filters: QueueFilters, chunk: int = 50) -> Iterator[str]:
        """Ids matching the filters, oldest first, that no active lease holds ("Siguiente solicitud"'s
        candidates), read a chunk at a time after the last one seen (keyset, so a claim made meanwhile
        moves nothing)."""
        where, params = _facet_sql(filters)
        after = ""
        last: dict = {}
        while True:
            with self.db.transaction() as conn:
                rows = conn.execute(text(
                    f"SELECT a.account_id, a.submitted_at, a.id FROM applications a WHERE {where}{after} "
                    f"AND NOT EXISTS (SELECT 1 FROM review_leases l WHERE {ACTIVE_LEASE}) "
                    "ORDER BY a.submitted_at, a.id LIMIT :chunk"), {**params, **last, "chunk": chunk}).all()
            if not rows:
                return
            yield from (r.account_id for r in rows)
            after = " AND (a.submitted_at, a.id) > (:last_at, CAST(:last_id AS uuid))"
            last = {"last_at": rows[-1].submitted_at, "last_id": rows[-1].id}

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[QueueEntry]:
        """Applications of any status one of whose words (folio, CURP, RFC, passport, email or its parts,
        names) each word of the query begins (accents and case ignored: domain/search_text.py); pending
        ones first, then oldest submission."""
        words = search_words(query)
        if not words:
            return []
        with self.db.transaction() as conn:
            if len(words) == 1 and FOLIO.match(words[0]):
                # A whole folio is unique: its btree answers at once. Part of one falls through.
                row = conn.execute(text(f"SELECT {COLUMNS} FROM applications a WHERE a.folio = :folio "
                                        f"AND {SEARCHABLE}"), {"folio": words[0].upper()}).first()
                if row is not None:
                    return [_entry(row)]
            # Pending ones first, from their own partial index: a common name matches thousands of
            # applications, whose rows a single ordered query would all read to keep the first `limit`;
            # the pending tenth usually fills the page. The expressions are the indexes', word for word.
            q = {"q": prefix_query(words)}
            found = conn.execute(text(
                f"SELECT {COLUMNS} FROM applications a WHERE {WORDS} @@ CAST(:q AS tsquery) AND {PENDING} "
                "ORDER BY a.submitted_at, a.id LIMIT :limit"), {**q, "limit": limit}).all()
            if len(found) < limit:
                found += conn.execute(text(
                    f"SELECT {COLUMNS} FROM applications a WHERE {WORDS} @@ CAST(:q AS tsquery) AND {SEARCHABLE} "
                    f"AND NOT ({PENDING}) ORDER BY a.estatus <> 'en_revision', a.submitted_at NULLS LAST, a.id "
                    "LIMIT :limit"), {**q, "limit": limit - len(found)}).all()
            return [_entry(r) for r in found]

    def age_counts(self, now: float, edges_days: Iterable[tuple[float, float]]) -> list[int]:
        """Pending applications whose age in days lies in [lo, hi) for each (lo, hi).

        A bucket is newer(hi) − newer(lo), newer(t) counting those submitted less than t days ago: summed
        from disjoint ranges of ix_applications_queue between the bounds, from its newest end and read from
        the index alone, so only the applications younger than the largest bounded edge are read (one pass
        over the whole backlog with a filter per bucket: p95 23 ms at 100,000 pending). An unbounded `hi` is
        every submitted one: the total kept by queue_counts, less those without a submission time."""
        edges = list(edges_days)
        if not edges:
            return []
        bounded = sorted({b for edge in edges for b in edge if b < UNBOUNDED_DAYS})
        params: dict = {f"t{i}": now - b * 86400 for i, b in enumerate(bounded)}
        columns = [f"(SELECT count(*) FROM applications a WHERE {PENDING} AND a.submitted_at > to_timestamp(:t{i})"
                   + (f" AND a.submitted_at <= to_timestamp(:t{i - 1}))" if i else ")") for i in range(len(bounded))]
        columns.append("(SELECT coalesce(sum(n), 0) FROM queue_counts)"
                       f" - (SELECT count(*) FROM applications a WHERE {PENDING} AND a.submitted_at IS NULL)")
        with self.db.transaction() as conn:  # one statement: one snapshot for every count
            *between, submitted = conn.execute(text(f"SELECT {', '.join(columns)}"), params).one()
        newer = dict(zip(bounded, itertools.accumulate(int(n) for n in between)))

        def within(days: float) -> int:
            return newer[days] if days < UNBOUNDED_DAYS else int(submitted)

        return [within(hi) - within(lo) for lo, hi in edges]

    def oldest(self) -> QueueEntry | None:
        with self.db.transaction() as conn:
            row = conn.execute(text(f"SELECT {COLUMNS} FROM applications a WHERE {PENDING} "
                                    "ORDER BY a.submitted_at, a.id LIMIT 1")).first()
        return _entry(row) if row else None

    def get(self, account_id: str) -> QueueEntry | None:
        """The pending application with this account id, None when it is not in review."""
        with self.db.transaction() as conn:
            row = conn.execute(text(f"SELECT {COLUMNS} FROM applications a WHERE {PENDING} "
                                    "AND a.account_id = :id"), {"id": account_id}).first()
        return _entry(row) if row else None

    def all_ids(self) -> list[str]:
        with self.db.transaction() as conn:
            return list(conn.execute(text(f"SELECT a.account_id FROM applications a WHERE {PENDING} "
                                          "ORDER BY a.submitted_at, a.id")).scalars())
