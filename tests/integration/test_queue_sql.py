"""The review queue, search and supervision counts as SQL over registro's PostgreSQL (issue 20 §8):
the contract of tests/support/queue_contract.py on the real tables, in a scratch database at head
(migrations 0004–0005: the partial queue indexes, the index of the words' beginnings), and the plans use them."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, text, update

from registro.domain.search_text import prefix_query
from registro.platform.db import Database
from registro.platform.db.schema import applications
from registro.review.queue import PgQueueIndex, QueueFilters
from tests.support import queue_contract as contract
from tests.support import scratch_database

SCRATCH = "registro_cola"


@pytest.fixture(scope="module")
def scratch_db(service_settings) -> Database:
    """A database of its own at head (owned by registro's role, as production's is): its rows are no
    running registro's, and the migrations run as that owner."""
    with scratch_database.at_head(service_settings.database_url, SCRATCH) as database:
        yield database


class PgWorld:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue = PgQueueIndex(db)

    def reset(self) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("TRUNCATE applications, review_leases CASCADE"))

    def put(self, row: dict) -> None:
        with self.db.transaction() as conn:
            conn.execute(insert(applications).values(**row))

    def update(self, account_id: str, **columns) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(applications).where(applications.c.account_id == account_id).values(**columns))

    def delete(self, account_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(delete(applications).where(applications.c.account_id == account_id))

    def lease(self, account_id: str, expires_in_s: float, released: bool = False) -> None:
        with self.db.transaction() as conn:
            conn.execute(text(
                "INSERT INTO review_leases (account_id, holder_id, holder_username, claimed_at, expires_at, released) "
                "VALUES (:id, 'revisor-1', 'revisor', now(), now() + make_interval(secs => :s), :released)"),
                {"id": account_id, "s": expires_in_s, "released": released})


@pytest.fixture
def world(scratch_db) -> PgWorld:
    return PgWorld(scratch_db)


def test_queue_order_facets_counts_and_reservations(world):
    contract.order_facets_counts_and_reservations(world)


def test_an_empty_queue(world):
    contract.nothing_pending_is_an_empty_queue(world)


def test_counts_follow_every_change_of_a_row(world):
    contract.counts_follow_every_change(world)


def test_search_by_every_key_over_every_status_accents_and_case_ignored(world):
    contract.search_by_every_key_over_every_status(world)


def test_ages_count_only_submitted_applications(world):
    contract.ages_count_only_submitted_applications(world)


def test_the_migrations_run_as_the_owner_and_the_indexes_are_used(world, scratch_db):
    """The migrations ran as registro's role (the database owner, no superuser), and the planner picks
    the partial queue index and the index of the words' beginnings (sequential scans disabled so the
    answer does not depend on a tiny table's statistics)."""
    contract.order_facets_counts_and_reservations(world)
    with scratch_db.transaction() as conn:
        assert not conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        page = "\n".join(conn.execute(text(
            "EXPLAIN SELECT id FROM applications a WHERE a.estatus = 'en_revision' AND a.state = 'activa' "
            "ORDER BY a.submitted_at, a.id LIMIT 25")).scalars())
        found = "\n".join(conn.execute(text(
            "EXPLAIN SELECT id FROM applications a WHERE array_to_tsvector(string_to_array(a.search_text, ' ')) "
            "@@ CAST(:q AS tsquery)"), {"q": prefix_query(["nunez"])}).scalars())
    assert "ix_applications_queue" in page, page
    assert "ix_applications_search_words" in found, found


def test_next_candidates_skip_the_reserved_and_follow_a_claim_made_meanwhile(world):
    contract.order_facets_counts_and_reservations(world)
    candidates = world.queue.unreserved(QueueFilters(), chunk=2)
    first, second = next(candidates), next(candidates)
    following = [i for i in world.queue.all_ids() if i not in {"acc-003", "acc-010", "acc-030"}]
    assert [first, second] == following[:2]
    world.lease(following[3], 600)  # claimed by someone else while this reviewer iterates
    rest = list(candidates)
    assert following[3] not in rest and rest == following[2:3] + following[4:]


def test_the_sql_answers_as_a_brute_force_scan_of_a_few_hundred(world):
    """400 random applications (statuses, ties, accents, leases): every page of several filters, the
    counts, ages and searches equal the in-memory twin's scan of the same rows."""
    import random
    from datetime import timedelta

    from tests.fake_queue import FakeQueueIndex

    rng = random.Random(20)
    names = [("José", "Núñez Peña"), ("María", "Gómez Ávila"), ("Ana", "Pérez López"), ("Íñigo", "Zúñiga Ruiz")]
    statuses = ["en_revision"] * 6 + ["requiere_correccion", "aprobado", "pendiente_documentos"]
    world.reset()
    rows = []
    for i in range(400):
        first, last = names[i % 4]
        foreign = i % 5 == 0
        attrs = {"pasaporte": f"P{i:07d}"} if foreign else {"curp": f"CAPA{i:06d}HDFRRR0{i % 10}",
                                                           "rfc": f"CAPA{i:06d}AB1"}
        row = contract.application_row(
            f"bf-{i:03d}", folio=f"AU-2026-{i:06d}", estatus=rng.choice(statuses), tipo_usuario=contract.TIPOS[i % 3],
            es_extranjero=foreign, first_name=first, last_name=last, email=f"Persona.{i}@Example.com", attributes=attrs,
            submitted_at=contract.T0 + timedelta(hours=rng.randrange(200)))  # many ties: the id decides
        world.put(row)
        rows.append(row)
    leased = {r["account_id"]: rng.choice([600, -30]) for r in rows[::11]}
    for account_id, s in leased.items():
        world.lease(account_id, s)
    import time
    brute = FakeQueueIndex(lambda: rows, lambda: [(a, time.time() + s, False) for a, s in leased.items()])
    assert world.queue.counts() == brute.counts()
    for f in (QueueFilters(), QueueFilters("transportista", "no", "libres"), QueueFilters("", "si", "reservadas"),
              QueueFilters("mandatario", "", "libres"), QueueFilters("agente_aduanal", "si")):
        for page in range(1, brute.page(f, 25).pages + 2):
            asked = QueueFilters(f.tipo, f.extranjero, f.reserva, page)
            got, want = world.queue.page(asked, 25), brute.page(asked, 25)
            assert (got.entries, got.matching, got.page, got.pages) == (want.entries, want.matching, want.page,
                                                                       want.pages), asked
            assert set(got.reserved) == set(want.reserved), asked
        assert list(world.queue.unreserved(f)) == list(brute.unreserved(f))
    for query in ("JOSE núñez", "au-2026-000042", "zuniga", "persona.17@", "capa000033", "p0000045", "gómez ávila"):
        assert world.queue.search(query, limit=1000) == brute.search(query, limit=1000), query
    now = (contract.T0 + timedelta(days=9)).timestamp()
    edges = [(0, 2), (2, 4), (4, 8), (8, 1e9)]
    assert world.queue.age_counts(now, edges) == brute.age_counts(now, edges)
    assert world.queue.oldest() == brute.oldest() and world.queue.all_ids() == brute.all_ids()
