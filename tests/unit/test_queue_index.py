"""The review-queue index with a few hundred applications: FIFO, filters, counts, reservations,
search — each compared with a brute-force answer over the same applications."""
from __future__ import annotations

import random

import pytest

from keycloak_ext import Account
from registro.domain.application import Application
from registro.workflow.queue_index import MemoryBackend, QueueFilters, QueueIndex, entry_for, normalise
from tests.fakes import FakeIdentity

TIPOS = ("agente_aduanal", "transportista", "mandatario")
NAMES = [("José", "Núñez Peña"), ("María", "Gómez Ávila"), ("Ana", "Pérez López"), ("Íñigo", "Zúñiga Ruiz")]


def build(n: int, seed: int = 7):
    rng = random.Random(seed)
    identity = FakeIdentity()
    apps = []
    for i in range(n):
        first, last = NAMES[i % len(NAMES)]
        foreign = i % 5 == 0
        attrs = {"estatus": "en_revision", "folio": f"AU-2026-{i:06d}", "tipo_usuario": TIPOS[i % 3],
                 "es_extranjero": "true" if foreign else "false",
                 # shuffled submission times, some equal (ties break by id)
                 "fecha_envio": f"2026-0{1 + rng.randrange(3)}-{1 + rng.randrange(28):02d}T10:00:00+00:00"}
        if foreign:
            attrs["pasaporte"] = f"P{i:07d}"
        else:
            attrs["curp"] = f"CAPA{i:06d}HDFRRR0{i % 10}"  # the profile's CURP shape
            attrs["rfc"] = f"CAPA{i:06d}AB1"
        account_id = identity.create_account(username=f"u{i}", email=f"Persona.{i}@Example.com", first_name=first,
                                             last_name=last, attributes=attrs)
        apps.append(Application(identity.get_account(account_id)))
    return identity, apps


@pytest.fixture(scope="module")
def loaded():
    identity, apps = build(300)
    index = QueueIndex(MemoryBackend(), clock=lambda: 1000.0)
    for app in random.Random(1).sample(apps, len(apps)):  # insertion order does not matter
        index.add(entry_for(app))
    reserved = {a.id: 2000.0 for a in apps[::17]}
    for account_id, expiry in reserved.items():
        index.mark_reserved(account_id, expiry)
    index.mark_reserved(apps[1].id, 999.0)  # an expired lease: free
    return index, apps, reserved


def expected(apps, reserved, f: QueueFilters):
    rows = sorted(apps, key=lambda a: (entry_for(a).score, a.id))
    rows = [a for a in rows if (not f.tipo or a.tipo_usuario == f.tipo)
            and (not f.extranjero or a.es_extranjero == (f.extranjero == "si"))
            and (not f.reserva or (a.id in reserved) == (f.reserva == "reservadas"))]
    return [a.id for a in rows]


@pytest.mark.parametrize("tipo", ["", "transportista"])
@pytest.mark.parametrize("extranjero", ["", "si", "no"])
@pytest.mark.parametrize("reserva", ["", "libres", "reservadas"])
def test_every_page_of_every_filter_matches_brute_force(loaded, tipo, extranjero, reserva):
    index, apps, reserved = loaded
    want = expected(apps, reserved, QueueFilters(tipo, extranjero, reserva))
    got = []
    page = 1
    while True:
        result = index.page(QueueFilters(tipo, extranjero, reserva, page), 25)
        assert result.matching == len(want)
        got += [e.account_id for e in result.entries]
        if page >= result.pages:
            break
        page += 1
    assert got == want


def test_counts_are_exact(loaded):
    index, apps, reserved = loaded
    counts = index.counts()
    assert counts.total == 300 and counts.reserved == len(reserved)
    assert counts.by_extranjero == {"si": sum(a.es_extranjero for a in apps),
                                    "no": sum(not a.es_extranjero for a in apps)}
    assert counts.by_tipo == {t: sum(a.tipo_usuario == t for a in apps) for t in TIPOS}


@pytest.mark.parametrize("query, field", [
    ("au-2026-000123", "folio"), ("capa000124hdfrrr04", "curp"), ("CAPA000124ab1", "rfc"),
    ("p0000125", "pasaporte"), ("persona.126@example.com", "email"), ("  PERSONA.127@EXAMPLE.COM ", "email"),
])
def test_search_by_identifier_is_case_insensitive(loaded, query, field):
    index, apps, _ = loaded
    found = index.search(query)
    assert len(found) == 1
    app = next(a for a in apps if a.id == found[0].account_id)
    value = app.account.email if field == "email" else app.account.attr(field)
    assert normalise(value) == normalise(query).replace(" ", "")


def test_search_by_name_ignores_accents_and_case_and_is_oldest_first(loaded):
    index, apps, _ = loaded
    want = [a.id for a in sorted(apps, key=lambda a: (entry_for(a).score, a.id)) if a.account.first_name == "José"]
    for query in ("jose nunez", "JOSÉ NÚÑEZ", "nuñez", "Nún"):
        got = [e.account_id for e in index.search(query, limit=1000)]
        assert got == want, query
    assert [e.account_id for e in index.search("zuniga ruiz inigo", limit=1000)] == \
        [a.id for a in sorted(apps, key=lambda a: (entry_for(a).score, a.id)) if a.account.first_name == "Íñigo"]
    assert index.search("nadie") == [] and index.search("   ") == []
    assert len(index.search("jose")) == 50  # bounded


def test_an_update_moves_the_entry_and_its_terms():
    identity = FakeIdentity()
    account_id = identity.create_account(username="u", email="a@example.com", first_name="Ana", last_name="Ruiz",
                                         attributes={"estatus": "en_revision", "folio": "AU-1", "tipo_usuario":
                                                     "transportista", "fecha_envio": "2026-01-01T00:00:00+00:00"})
    index = QueueIndex(MemoryBackend())
    index.add(entry_for(Application(identity.get_account(account_id))))
    identity.update_account(account_id, attributes={"tipo_usuario": "mandatario", "folio": "AU-2"})
    index.add(entry_for(Application(identity.get_account(account_id))))
    assert index.search("au-1") == [] and [e.account_id for e in index.search("au-2")] == [account_id]
    assert index.counts().by_tipo == {"mandatario": 1} and index.counts().total == 1
    index.remove(account_id)
    assert index.counts().total == 0 and index.search("ana") == [] and index.all_ids() == []
