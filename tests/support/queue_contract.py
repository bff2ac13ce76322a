"""What the review queue's reads must answer (review/queue.py), run against PostgreSQL
(tests/integration/test_queue_sql.py) and against the in-memory twin (tests/fake_queue.py, in
tests/unit/test_queue_fake.py): the twin the unit tests use cannot drift from the SQL.

A "world" holds application rows and leases and the queue reading them:
  world.reset()                                   nothing stored
  world.put(row)                                  one application row (`application_row(...)`)
  world.update(account_id, **columns)             a change of that row
  world.delete(account_id)                        the row gone
  world.lease(account_id, expires_in_s, released) a reviewer's lease, by the store's clock
  world.queue                                     the QueueIndex under test
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from registro.domain.search_text import search_text_of
from registro.review.queue import QueueFilters

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TIPOS = ("agente_aduanal", "transportista", "mandatario")


def application_row(account_id: str, *, folio: str, estatus: str | None = "en_revision", state: str = "activa",
                    submitted_at: datetime | None = None, tipo_usuario: str = "agente_aduanal",
                    es_extranjero: bool = False, first_name: str = "Ana", last_name: str = "Pérez",
                    email: str | None = None, attributes: dict | None = None, row_id: str | None = None) -> dict:
    """An `applications` row as kernel/records.py writes it: the columns the queries read and the
    search text derived from the record."""
    email = email if email is not None else f"{account_id}@example.com"
    record = {"folio": folio, "tipo_usuario": tipo_usuario, "es_extranjero": "true" if es_extranjero else "false",
              **({"estatus": estatus} if estatus else {}), **(attributes or {})}
    if submitted_at is not None:
        record["fecha_envio"] = submitted_at.isoformat()
    return {"id": row_id or str(uuid.uuid4()), "folio": folio, "username": f"u-{account_id}", "account_id": account_id,
            "link_version": "v1", "es_extranjero": es_extranjero, "state": state, "estatus": estatus,
            "submitted_at": submitted_at, "tipo_usuario": tipo_usuario, "email": email, "first_name": first_name,
            "last_name": last_name, "record": record,
            "search_text": search_text_of(email=email, first_name=first_name, last_name=last_name, attributes=record)}


def _seed_queue(world) -> dict:
    """36 pending (3 types × nationality alternating, 10 minutes apart, two sharing a submission time
    to test the tie order), plus rows that are NOT pending: other statuses, an intent, a cancelled one."""
    world.reset()
    pending = []
    for n in range(36):
        at = T0 + timedelta(minutes=10 * n) if n != 7 else T0 + timedelta(minutes=10 * 6)  # 6 and 7 tie
        row = application_row(f"acc-{n:03d}", folio=f"AU-2026-{n:06d}", submitted_at=at, tipo_usuario=TIPOS[n % 3],
                              es_extranjero=n % 4 == 0, row_id=f"00000000-0000-0000-0000-{n:012d}")
        world.put(row)
        pending.append(row)
    for n, (estatus, state) in enumerate([("requiere_correccion", "activa"), ("aprobado", "activa"),
                                          ("pendiente_documentos", "activa"), ("rechazado", "rechazada"),
                                          (None, "creando"), ("en_revision", "cancelada")]):
        world.put(application_row(f"otra-{n}", folio=f"AU-2026-9{n:05d}", estatus=estatus, state=state,
                                  submitted_at=T0 - timedelta(days=30)))
    world.lease("acc-003", 600)
    world.lease("acc-010", 600)
    world.lease("acc-030", 600)
    world.lease("acc-005", -60)  # expired: free
    world.lease("acc-012", 600, released=True)  # released: free
    world.lease("otra-0", 600)  # not pending: not counted
    ordered = sorted(pending, key=lambda r: (r["submitted_at"], r["id"]))
    return {"ordered": [r["account_id"] for r in ordered], "rows": {r["account_id"]: r for r in pending}}


def order_facets_counts_and_reservations(world) -> None:
    seeded = _seed_queue(world)
    ordered, rows = seeded["ordered"], seeded["rows"]
    queue = world.queue
    reserved = {"acc-003", "acc-010", "acc-030"}

    counts, page = queue.overview(QueueFilters(), 10)
    assert counts.total == 36
    assert counts.by_tipo == {t: 12 for t in TIPOS}
    assert counts.by_extranjero == {"si": 9, "no": 27}
    assert counts.reserved == 3
    assert [e.account_id for e in page.entries] == ordered[:10]
    assert ordered.index("acc-006") < ordered.index("acc-007")  # a tie goes by id
    assert (page.matching, page.page, page.pages) == (36, 1, 4)
    assert set(page.reserved) == {"acc-003"} and page.reserved["acc-003"] > 0
    assert queue.counts() == counts

    last = queue.page(QueueFilters(page=99), 10)  # past the end: the last page
    assert (last.page, [e.account_id for e in last.entries]) == (4, ordered[30:])
    assert set(last.reserved) == {"acc-030"}

    for tipo, ext in [("transportista", ""), ("", "si"), ("mandatario", "no"), ("agente_aduanal", "si")]:
        want = [i for i in ordered if (not tipo or rows[i]["tipo_usuario"] == tipo)
                and (not ext or rows[i]["es_extranjero"] == (ext == "si"))]
        got = queue.page(QueueFilters(tipo=tipo, extranjero=ext), 5)
        assert got.matching == len(want) and [e.account_id for e in got.entries] == want[:5], (tipo, ext)
        second = queue.page(QueueFilters(tipo=tipo, extranjero=ext, page=2), 5)
        # (a facet with one page answers page 2 with its last page)
        assert [e.account_id for e in second.entries] == (want[5:10] if len(want) > 5 else want), (tipo, ext)

    held = queue.page(QueueFilters(reserva="reservadas"), 10)
    assert [e.account_id for e in held.entries] == [i for i in ordered if i in reserved]
    assert held.matching == 3 and set(held.reserved) == reserved
    free = queue.page(QueueFilters(reserva="libres", page=2), 10)
    want_free = [i for i in ordered if i not in reserved]
    assert free.matching == 33 and [e.account_id for e in free.entries] == want_free[10:20] and free.reserved == {}
    free_type = queue.page(QueueFilters(tipo="transportista", reserva="libres"), 50)
    assert [e.account_id for e in free_type.entries] == [i for i in want_free if rows[i]["tipo_usuario"] == "transportista"]

    assert list(queue.unreserved(QueueFilters(), chunk=7)) == want_free  # chunks joined in order
    assert list(queue.unreserved(QueueFilters(tipo="mandatario", extranjero="si"))) == \
        [i for i in want_free if rows[i]["tipo_usuario"] == "mandatario" and rows[i]["es_extranjero"]]
    assert set(queue.reserved()) == reserved

    entry = page.entries[0]
    first = rows[ordered[0]]
    assert (entry.folio, entry.full_name, entry.tipo_usuario, entry.es_extranjero, entry.estatus) == \
        (first["folio"], "Ana Pérez", first["tipo_usuario"], first["es_extranjero"], "en_revision")
    assert datetime.fromisoformat(entry.submitted_at) == first["submitted_at"]
    assert queue.oldest().account_id == ordered[0]
    assert queue.all_ids() == ordered
    assert queue.get("acc-020").folio == "AU-2026-000020"
    assert queue.get("otra-0") is None and queue.get("otra-5") is None and queue.get("nadie") is None

    # Ages: the newest is 350 minutes after T0; "now" is 3 days after the newest.
    now = (T0 + timedelta(minutes=350) + timedelta(days=3)).timestamp()
    ages = queue.age_counts(now, [(0, 3), (3, 3.1), (3.1, 1e9)])
    expected = [0, 0, 0]
    for r in rows.values():
        days = (now - r["submitted_at"].timestamp()) / 86400
        expected[0 if days < 3 else 1 if days < 3.1 else 2] += 1
    assert ages == expected and sum(ages) == 36 and ages[1] > 0 and ages[2] > 0
    # Edges in any order, a bounded last one, one edge shared: the same counts.
    assert queue.age_counts(now, [(3.1, 1e9), (0, 3.1), (3, 3.1)]) == [ages[2], ages[0] + ages[1], ages[1]]


def ages_count_only_submitted_applications(world) -> None:
    """A pending application without a submission time has no age: it is in the queue's total, in no
    age bucket (the unbounded one included)."""
    world.reset()
    for n in range(6):
        world.put(application_row(f"edad-{n}", folio=f"AU-2026-55{n:04d}", submitted_at=T0 + timedelta(days=n)))
    world.put(application_row("sin-fecha", folio="AU-2026-559999", submitted_at=None))
    now = (T0 + timedelta(days=6)).timestamp()
    assert world.queue.counts().total == 7
    assert world.queue.age_counts(now, [(0, 2), (2, 4), (4, 1e9)]) == [1, 2, 3]
    assert world.queue.age_counts(now, [(0, 1e9)]) == [6]


def nothing_pending_is_an_empty_queue(world) -> None:
    world.reset()
    world.put(application_row("solo-1", folio="AU-2026-777001", estatus="aprobado", submitted_at=T0))
    counts, page = world.queue.overview(QueueFilters(page=3), 25)
    assert (counts.total, counts.by_tipo, counts.by_extranjero, counts.reserved) == (0, {}, {"si": 0, "no": 0}, 0)
    assert (page.entries, page.matching, page.page, page.pages) == ([], 0, 1, 1)
    assert world.queue.oldest() is None and list(world.queue.unreserved(QueueFilters())) == []
    assert world.queue.age_counts(T0.timestamp(), [(0, 1e9)]) == [0]


def search_by_every_key_over_every_status(world) -> None:
    world.reset()
    put = world.put
    put(application_row("s-jose", folio="AU-2026-100001", submitted_at=T0 + timedelta(hours=2), first_name="José",
                        last_name="Núñez Peña", email="Jose.Nunez@Correo.MX",
                        attributes={"curp": "NUPJ800101HDFXXX01", "rfc": "NUPJ800101AB1"}))
    put(application_row("s-maria", folio="AU-2026-100002", submitted_at=T0 + timedelta(hours=1), first_name="María José",
                        last_name="Ibáñez", email="mj@example.com", estatus="aprobado",
                        attributes={"curp": "IAXM900202MDFXXX02", "rfc": "IAXM900202CD2"}))
    put(application_row("s-extranjero", folio="AU-2026-100003", submitted_at=T0, first_name="John",
                        last_name="Smith", es_extranjero=True, email="john@example.us", estatus="requiere_correccion",
                        attributes={"pasaporte": "X1234567", "tax_id": "TX-998877", "pais": "US"}))
    put(application_row("s-rechazada", folio="AU-2026-100004", submitted_at=T0 - timedelta(days=3), first_name="Jose",
                        last_name="Nuñez Ruiz", email="otro@example.com", estatus="rechazado", state="rechazada",
                        attributes={"curp": "NURJ700303HDFXXX03"}))
    put(application_row("s-sinenviar", folio="AU-2026-100005", first_name="Josefina", last_name="Núñez",
                        email="josefina@example.com", estatus="pendiente_documentos"))
    put(application_row("s-creando", folio="AU-2026-100006", estatus=None, state="creando", first_name="José",
                        last_name="Núñez Oculto", email="creando@example.com",
                        attributes={"curp": "NUOJ600404HDFXXX04"}))
    put(application_row("s-cancelada", folio="AU-2026-100007", estatus="en_revision", state="cancelada",
                        submitted_at=T0, first_name="José", last_name="Núñez Cancelado", email="cancel@example.com"))
    search = world.queue.search

    def ids(query, **kw):
        return [e.account_id for e in search(query, **kw)]

    assert ids("au-2026-100001") == ["s-jose"]
    assert ids("AU-2026-100002") == ["s-maria"]  # approved: search sees every status
    assert ids("nupj800101hdfxxx01") == ["s-jose"] and ids("NUPJ800101") == ["s-jose"]
    assert ids("iaxm900202cd2") == ["s-maria"]  # RFC
    assert ids("x1234567") == ["s-extranjero"] and ids("TX-998877") == ["s-extranjero"]  # passport, tax id
    assert ids("jose.nunez@correo.mx") == ["s-jose"] and ids("NUNEZ@CORREO") == ["s-jose"]  # email, whole or part
    assert ids("nurj700303") == ["s-rechazada"]  # a rejection stays findable (its history)
    # Names: accents and case ignored, words in any order; pending first, then the oldest submission,
    # then those never submitted; an intent (creando) and a cancelled application never.
    assert ids("JOSÉ NÚÑEZ") == ["s-jose", "s-rechazada", "s-sinenviar"]
    assert ids("nunez jose") == ids("Núñez José") == ["s-jose", "s-rechazada", "s-sinenviar"]
    assert ids("ibanez maria") == ["s-maria"] and ids("peña") == ["s-jose"]
    assert ids("oculto") == [] and ids("nuoj600404") == [] and ids("cancelado") == [] and ids("au-2026-100007") == []
    assert ids("jose nunez", limit=1) == ["s-jose"]
    found = {e.account_id: e for e in search("nunez")}
    assert found["s-rechazada"].estatus == "rechazado" and found["s-rechazada"].estatus_label == "Rechazado"
    assert found["s-jose"].estatus_label == "En revisión" and found["s-sinenviar"].submitted_at == ""
    # Words under 3 characters (they begin too many words) are left out; nothing left, nothing found.
    assert ids("jo") == [] and ids("  ") == [] and ids("jo nunez") == ids("nunez")
    # What the reviewer types is text, never a pattern.
    assert ids("%%%") == [] and ids("a_b") == [] and ids("100%") == []
    assert ids("nadie") == []
    # Punctuation typed or pasted around a word is not part of it: "Núñez, José", "(CURP)", «folio».
    assert ids("Núñez, José") == ids("nunez;jose") == ["s-jose", "s-rechazada", "s-sinenviar"]
    assert ids("(NUPJ800101HDFXXX01)") == ["s-jose"] and ids("«AU-2026-100002».") == ["s-maria"]
    assert ids("@correo.mx") == ["s-jose"] and ids("-998877") == ["s-extranjero"]


def counts_follow_every_change(world) -> None:
    """Submissions, decisions, a changed facet and a deleted row: the counts per facet always equal
    what the queue lists (the SQL keeps them by trigger, in the same transaction as the change)."""
    _seed_queue(world)
    queue = world.queue

    def agree(total):
        listed = queue.page(QueueFilters(), 1000).entries
        by_tipo, by_ext = {}, {"si": 0, "no": 0}
        for e in listed:
            by_tipo[e.tipo_usuario] = by_tipo.get(e.tipo_usuario, 0) + 1
            by_ext["si" if e.es_extranjero else "no"] += 1
        counts = queue.counts()
        assert (counts.total, counts.by_tipo, counts.by_extranjero) == (total, by_tipo, by_ext)
        assert len(listed) == total

    agree(36)
    world.update("acc-000", estatus="aprobado")  # decided: leaves the queue
    world.update("otra-0", estatus="en_revision")  # sent again after a correction
    agree(36)
    world.update("acc-001", es_extranjero=True, tipo_usuario="mandatario")  # a facet changed while pending
    world.update("acc-004", first_name="Otra")  # a change that leaves its facet alone
    agree(36)
    world.update("acc-002", state="cancelada")  # the account deleted
    world.update("otra-4", state="activa", estatus="en_revision")  # an intent completed straight into review
    world.delete("acc-008")
    agree(35)
    assert queue.counts().by_tipo.get("mandatario") == 12 + 1 - 1 - 1  # acc-001 in; acc-002, acc-008 out
