"""The review-queue index: every application `en_revision`, ordered by submission time, shared by
every replica, with exact counts and search — at a cost that does not grow with the queue.

Keycloak stays the record; this is a derived index that `python -m registro.reindex` can rebuild
from it at any time. Why Redis (sorted sets and sets) rather than S3 keys: Redis answers a page
(ZRANGE), a count (ZCARD, one per facet) and a search term (one SET per normalised term) in a
single round trip of O(log n + page) work, and updates one application atomically (MULTI/EXEC);
with S3 keys a count would be a LIST of the whole prefix and a search term a second family of
keys kept in step without transactions. Redis already runs in every stack profile (REDIS_URL)
for the rate limits and console sessions; without REDIS_URL (unit tests, a bare `flask run`) the
in-process backend of the same Protocol is used.

Failure-safe order (the index may briefly hold an application that is no longer pending, never
miss one that is): an application is ADDED before Keycloak says `en_revision` (and removed again
if that write fails), and REMOVED after Keycloak says it left review. A leftover ("ghost") is
harmless: opening it shows its real status, "Siguiente solicitud" drops it, reindex removes it.

Layout (one Redis logical database, keys under `au:cola:`):
  d                       hash   id -> entry JSON
  z:all, z:t:<tipo>, z:e:<si|no>, z:te:<tipo>:<si|no>
                          zsets  id scored by submission time (epoch s); ties ordered by id
  r                       zset   reserved ids scored by their lease's expiry (mirror of the S3 leases)
  s:<term>                sets   ids per normalised search term (folio, CURP, RFC, passport, email,
                                 each name word and its prefixes of 3+ letters)
"""
from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Iterator

from keycloak_ext.catalog import USER_TYPE_LABELS

from ..adapters.index_store import (IndexBackend, MemoryBackend, QueueIndexUnavailable,  # noqa: F401 - re-exported
                                     RedisBackend)
from ..domain.application import Application

MIN_PREFIX = 3
SEARCH_LIMIT = 50


# --- entries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueEntry:
    account_id: str
    folio: str
    full_name: str
    tipo_usuario: str
    es_extranjero: bool
    submitted_at: str
    terms: tuple[str, ...] = field(default=(), compare=False)

    @property
    def tipo_label(self) -> str:
        return USER_TYPE_LABELS.get(self.tipo_usuario, self.tipo_usuario or "—")

    @property
    def score(self) -> float:
        return submitted_score(self.submitted_at)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "terms": list(self.terms)}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> "QueueEntry":
        d = json.loads(raw)
        return cls(account_id=d["account_id"], folio=d.get("folio", ""), full_name=d.get("full_name", ""),
                   tipo_usuario=d.get("tipo_usuario", ""), es_extranjero=bool(d.get("es_extranjero")),
                   submitted_at=d.get("submitted_at", ""), terms=tuple(d.get("terms") or ()))


def submitted_score(iso: str) -> float:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces: what a reviewer types and what is stored agree."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", plain).strip()


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-zñ@._+-]+", normalise(text)) if w]


def search_terms(app: Application) -> tuple[str, ...]:
    account = app.account
    terms: set[str] = set()
    for raw in (app.folio, account.attr("curp"), account.attr("rfc"), account.attr("pasaporte"), account.email,
                account.username):
        value = normalise(raw)
        if value:
            terms.add(value.replace(" ", ""))
    if account.email and "@" in account.email:
        terms.add(normalise(account.email).split("@", 1)[0])
    for word in _words(f"{account.first_name} {account.last_name}"):
        terms.add(word)
        for n in range(MIN_PREFIX, len(word)):
            terms.add(word[:n])
    return tuple(sorted(terms))


def entry_for(app: Application, submitted_at: str | None = None) -> QueueEntry:
    return QueueEntry(account_id=app.id, folio=app.folio, full_name=app.full_name, tipo_usuario=app.tipo_usuario,
                      es_extranjero=app.es_extranjero, submitted_at=submitted_at or app.submitted_at,
                      terms=search_terms(app))


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


def _set_keys(entry: QueueEntry) -> list[str]:
    ext = "si" if entry.es_extranjero else "no"
    return ["z:all", f"z:t:{entry.tipo_usuario}", f"z:e:{ext}", f"z:te:{entry.tipo_usuario}:{ext}"]


def _filter_key(filters: QueueFilters) -> str:
    if filters.tipo and filters.extranjero:
        return f"z:te:{filters.tipo}:{filters.extranjero}"
    if filters.tipo:
        return f"z:t:{filters.tipo}"
    if filters.extranjero:
        return f"z:e:{filters.extranjero}"
    return "z:all"


# --- the index --------------------------------------------------------------------------------------
class QueueIndex:
    def __init__(self, backend: IndexBackend, clock=time.time) -> None:
        self.backend = backend
        self.clock = clock

    # writes
    def add(self, entry: QueueEntry) -> None:
        """Adds or replaces one application's entry (its sets and terms as one atomic write)."""
        ops = self._removal_ops(entry.account_id, keep_reservation=True)
        ops += [("hset", entry.account_id, entry.to_json())]
        ops += [("zadd", key, entry.account_id, entry.score) for key in _set_keys(entry)]
        ops += [("sadd", f"s:{term}", entry.account_id) for term in entry.terms]
        self.backend.apply(ops)

    def remove(self, account_id: str) -> None:
        self.backend.apply(self._removal_ops(account_id))

    def _removal_ops(self, account_id: str, keep_reservation: bool = False) -> list[tuple]:
        raw = self.backend.hget(account_id)
        ops: list[tuple] = [("hdel", account_id)]
        if raw:
            old = QueueEntry.from_json(raw)
            ops += [("zrem", key, account_id) for key in _set_keys(old)]
            ops += [("srem", f"s:{term}", account_id) for term in old.terms]
        else:
            ops += [("zrem", "z:all", account_id)]
        if not keep_reservation:
            ops.append(("zrem", "r", account_id))
        return ops

    def mark_reserved(self, account_id: str, expires_at: float) -> None:
        self.backend.apply([("zadd", "r", account_id, expires_at)])

    def mark_released(self, account_id: str) -> None:
        self.backend.apply([("zrem", "r", account_id)])

    def clear(self) -> None:
        self.backend.clear()

    # reads
    def get(self, account_id: str) -> QueueEntry | None:
        raw = self.backend.hget(account_id)
        return QueueEntry.from_json(raw) if raw else None

    def entries(self, ids: list[str]) -> list[QueueEntry]:
        return [QueueEntry.from_json(raw) for raw in self.backend.hmget(ids) if raw]

    def all_ids(self) -> list[str]:
        return self.backend.zrange("z:all", 0, -1)

    def reserved(self) -> dict[str, float]:
        """Active reservations (few: one or two per reviewer at work)."""
        return dict(self.backend.zrangebyscore("r", self.clock(), float("inf")))

    def counts(self) -> Counts:
        return self.overview(QueueFilters(), 0)[0]

    def overview(self, filters: QueueFilters, size: int) -> tuple[Counts, IndexPage | None]:
        """The counts and (size > 0) one page, sharing the round trips: the card of every facet in
        one pipeline, the reservations read once."""
        tipos = list(USER_TYPE_LABELS)
        key = _filter_key(filters)
        keys = ["z:all", "z:e:si", "z:e:no", *[f"z:t:{t}" for t in tipos], key]
        cards = self.backend.zcards(keys)
        reserved = self.reserved()
        pending = self.backend.zscores("z:all", list(reserved))
        counts = Counts(total=cards[0], by_extranjero={"si": cards[1], "no": cards[2]},
                        by_tipo={t: n for t, n in zip(tipos, cards[3:-1]) if n},
                        reserved=sum(1 for s in pending if s is not None))
        return counts, (self._page(filters, size, key, cards[-1], reserved) if size else None)

    def page(self, filters: QueueFilters, size: int) -> IndexPage:
        key = _filter_key(filters)
        return self._page(filters, size, key, self.backend.zcard(key), self.reserved())

    def _page(self, filters: QueueFilters, size: int, key: str, card: int, reserved: dict[str, float]) -> IndexPage:
        ranks = sorted(r for r in self.backend.zranks(key, list(reserved)) if r is not None)
        if filters.reserva == "reservadas":
            matching = len(ranks)
        elif filters.reserva == "libres":
            matching = card - len(ranks)
        else:
            matching = card
        pages = max(1, -(-matching // size))
        page = min(max(1, filters.page), pages)
        offset = (page - 1) * size
        if filters.reserva == "reservadas":
            ids = [self.backend.zrange(key, r, r)[0] for r in ranks[offset:offset + size]]
        elif filters.reserva == "libres":
            start = offset
            for r in ranks:  # the n-th free entry sits after every reserved rank before it
                if r <= start:
                    start += 1
                else:
                    break
            window = self.backend.zrange(key, start, start + size + len(ranks) - 1)
            ids = [i for i in window if i not in reserved][:size]
        else:
            ids = self.backend.zrange(key, offset, offset + size - 1)
        entries = self.entries(ids)
        return IndexPage(entries=entries, reserved={e.account_id: reserved[e.account_id] for e in entries
                                                    if e.account_id in reserved},
                         matching=matching, page=page, pages=pages)

    def unreserved(self, filters: QueueFilters, chunk: int = 50) -> Iterator[str]:
        """Ids matching the filters, oldest first, that no active lease holds (as the index knows)."""
        key = _filter_key(filters)
        start = 0
        while True:
            ids = self.backend.zrange(key, start, start + chunk - 1)
            if not ids:
                return
            reserved = self.reserved()
            yield from (i for i in ids if i not in reserved)
            start += chunk

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[QueueEntry]:
        """Folio, CURP, RFC, passport, email (whole or before the @), username, or words of the name
        (whole or their first 3+ letters), accent- and case-insensitive; oldest first."""
        query = normalise(text)
        if not query:
            return []
        compact = query.replace(" ", "")
        ids = self.backend.oldest_of([f"s:{compact}"], limit)
        if not ids and " " in query:
            ids = self.backend.oldest_of([f"s:{w}" for w in _words(query)], limit)
        return self.entries(ids)

    def age_counts(self, now: float, edges_days: Iterable[tuple[float, float]]) -> list[int]:
        """Pending applications whose age in days lies in [lo, hi) for each (lo, hi)."""
        return [self.backend.zcount("z:all", now - hi * 86400 + 1e-3, now - lo * 86400) for lo, hi in edges_days]

    def oldest(self) -> QueueEntry | None:
        ids = self.backend.zrange("z:all", 0, 0)
        return self.get(ids[0]) if ids else None


def index_for(redis_url: str | None) -> QueueIndex:
    return QueueIndex(RedisBackend(redis_url) if redis_url else MemoryBackend())
