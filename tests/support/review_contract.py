"""What every LeaseStore (review/leases.py) and DecisionStore (review/decision_records.py) does: run on
the in-memory twins (tests/unit/test_review_tables.py) and on PostgreSQL (tests/integration/test_review_tables.py).

Time cannot be moved on a database's clock, so the tests age a row instead: `expire(account_id)` makes a
lease expired, `age(account_id, ronda, seconds)` makes a decision row's last write that much older. The
helpers below do it for each implementation.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace

from sqlalchemy import text

from registro.review import decision_records as dr

LEASE_S = 1800


def _account() -> str:
    return str(uuid.uuid4())


def _at_once(n: int, work) -> list:
    """Runs work(i) in n threads released together; their results in thread order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- aging rows ------------------------------------------------------------------------------------------
def expire_pg_lease(db, account_id: str) -> None:
    with db.transaction() as conn:
        conn.execute(text("UPDATE review_leases SET expires_at = now() - interval '1 second' "
                          "WHERE account_id = :a"), {"a": account_id})


def age_pg_decision(db, account_id: str, ronda: str, seconds: float) -> None:
    with db.transaction() as conn:
        conn.execute(text("UPDATE decisions SET updated_at = updated_at - make_interval(secs => :s) "
                          "WHERE account_id = :a AND ronda = :r"), {"s": seconds, "a": account_id, "r": ronda})


def expire_fake_lease(store, account_id: str) -> None:
    with store.lock:
        store.rows[account_id] = replace(store.rows[account_id], expires_at=store.clock() - 1)


def age_fake_decision(store, account_id: str, ronda: str, seconds: float) -> None:
    with store.lock:
        row = store.rows[(account_id, ronda)]
        store.rows[(account_id, ronda)] = replace(row, version=(row.version[0] - seconds, row.version[1]))


# --- leases ----------------------------------------------------------------------------------------------
def a_claim_is_held_renewed_and_released(store) -> None:
    account = _account()
    assert store.current(account) is None and store.active(account) is None
    ana = store.claim(account, "ana", "ana.revisora", LEASE_S)
    assert ana is not None and ana.holder_id == "ana" and not ana.released
    assert LEASE_S - 5 <= ana.expires_at - ana.claimed_at <= LEASE_S + 5
    assert store.claim(account, "beto", "beto.revisor", LEASE_S) is None  # held by someone else
    assert store.active(account).holder_id == "ana"
    assert store.held(account, "ana").holder_id == "ana" and store.held(account, "beto") is None
    renewed = store.claim(account, "ana", "ana.revisora", LEASE_S)  # one's own: renewed
    assert renewed is not None and renewed.holder_id == "ana" and renewed.expires_at >= ana.expires_at
    assert store.release(account, "beto") is False  # not his to release
    assert store.release(account, "ana") is True
    assert store.release(account, "ana") is False  # nothing left of hers
    assert store.active(account) is None and store.held(account, "ana") is None
    gone = store.current(account)
    assert gone is not None and gone.released and gone.holder_id == "ana"
    again = store.claim(account, "beto", "beto.revisor", LEASE_S)  # a released lease is free again
    assert again is not None and again.holder_id == "beto" and not again.released


def two_claims_at_once_have_one_winner(store) -> None:
    for _ in range(5):
        account = _account()
        results = _at_once(4, lambda i: store.claim(account, f"revisor-{i}", f"revisor{i}", LEASE_S))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
        assert store.active(account).holder_id == winners[0].holder_id


def an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it(store, expire) -> None:
    account = _account()
    assert store.claim(account, "ana", "ana.revisora", LEASE_S) is not None
    expire(account)
    assert store.active(account) is None and store.held(account, "ana") is None
    assert store.release(account, "ana") is False  # expired: nothing to release
    results = _at_once(2, lambda i: store.claim(account, f"revisor-{i}", f"revisor{i}", LEASE_S))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1, results  # taking an expired lease over is a race with one winner too
    assert store.release(account, "ana") is False  # never touches the lease that replaced hers
    assert store.active(account).holder_id == winners[0].holder_id


def only_active_leases_are_listed(store, expire) -> None:
    held, released, expired = _account(), _account(), _account()
    for account in (held, released, expired):
        store.claim(account, "ana", "ana.revisora", LEASE_S)
    store.release(released, "ana")
    expire(expired)
    listed = {lease.account_id for lease in store.active_all()}
    assert held in listed and released not in listed and expired not in listed


# --- decision rows ---------------------------------------------------------------------------------------
def _record(nonce: str) -> dict:
    return {"decision": "aprobar", "intento": nonce, "correos": [1, 2], "revisor": "ana.revisora"}


def two_identical_requests_create_one_row(store) -> None:
    account, ronda = _account(), "ronda-1"
    results = _at_once(2, lambda i: store.create(account, ronda, "aprobar", _record(f"intento-{i}")))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1, results  # the other request: "already decided"
    row = store.get(account, ronda)
    assert row.state == dr.EN_CURSO and row.decision == "aprobar" and row.record == winners[0].record
    assert store.create(account, ronda, "rechazar", _record("tarde")) is None
    assert store.get(account, "otra-ronda") is None
    assert store.create(account, "ronda-2", "rechazar", _record("siguiente")) is not None  # a new round: a new row


def a_stale_en_curso_row_is_taken_over_once(store, age) -> None:
    account, ronda = _account(), "ronda-1"
    dead = store.create(account, ronda, "aprobar", _record("muerto"))
    assert store.take_over_stale(account, ronda, "aprobar", _record("nuevo"), 120) is None  # its request may live
    age(account, ronda, 121)
    results = _at_once(2, lambda i: store.take_over_stale(account, ronda, "aprobar", _record(f"nuevo-{i}"), 120))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1, results
    taken = store.get(account, ronda)
    assert taken.state == dr.EN_CURSO and taken.record == winners[0].record and taken.version != dead.version
    assert store.finish(dead, {**dead.record, "auditoria": "escrita"}) is False  # the dead request lost it
    store.delete(dead)  # nor can its undo remove the row that replaced it
    assert store.get(account, ronda).record == winners[0].record
    assert store.finish(taken, {**taken.record, "auditoria": "escrita"}) is True
    age(account, ronda, 121)
    assert store.take_over_stale(account, ronda, "aprobar", _record("otro"), 120) is None  # applied: never again


def a_failed_change_removes_its_row(store) -> None:
    account, ronda = _account(), "ronda-1"
    row = store.create(account, ronda, "corregir", _record("fallido"))
    store.delete(row)
    assert store.get(account, ronda) is None
    assert store.create(account, ronda, "corregir", _record("reintento")) is not None  # the retry starts clean


def a_decision_owing_its_completion_is_taken_once(store, age) -> None:
    account, ronda = _account(), "ronda-1"
    row = store.create(account, ronda, "rechazar", _record("uno"))
    assert store.take_for_completion(account, ronda, 120, 120) is None  # en_curso and fresh: its request finishes it
    assert store.finish(row, {**row.record, "auditoria": "pendiente"}) is True  # the audit event failed
    assert store.get(account, ronda).state == dr.APLICADA
    taken = store.take_for_completion(account, ronda, 120, 120)  # the repeated POST
    assert taken is not None and taken.state == dr.COMPLETANDO and taken.record["auditoria"] == "pendiente"
    assert store.take_for_completion(account, ronda, 120, 120) is None  # within the completion's window
    age(account, ronda, 121)  # that completion died
    again = store.take_for_completion(account, ronda, 120, 120)
    assert again is not None and again.state == dr.COMPLETANDO
    assert store.finish(taken, {**taken.record, "auditoria": "escrita"}) is False  # the dead one cannot finish
    assert store.finish(again, {**again.record, "auditoria": "escrita"}) is True
    done = store.get(account, ronda)
    assert done.state == dr.APLICADA and done.record["auditoria"] == "escrita"
    age(account, ronda, 1000)
    assert store.take_for_completion(account, ronda, 120, 120) is None  # nothing owed

    crashed = _account()  # a decision whose process died after the status change: `en_curso` for good
    store.create(crashed, ronda, "aprobar", _record("dos"))
    age(crashed, ronda, 121)
    assert store.take_for_completion(crashed, ronda, 120, 120).state == dr.COMPLETANDO


def the_rows_owing_their_completion_are_listed(store, age) -> None:
    pending, written, fresh, stale, dying = (_account() for _ in range(5))
    ronda = "ronda-1"
    for account in (pending, written):
        row = store.create(account, ronda, "rechazar", _record("uno"))
        store.finish(row, {**row.record, "auditoria": "pendiente" if account == pending else "escrita"})
    store.create(fresh, ronda, "aprobar", _record("dos"))  # its request is still deciding
    store.create(stale, ronda, "aprobar", _record("tres"))
    age(stale, ronda, 121)
    store.create(dying, ronda, "aprobar", _record("cuatro"))
    age(dying, ronda, 121)
    assert store.take_for_completion(dying, ronda, 120, 120) is not None  # being completed right now
    owed = store.owed(120, 120, limit=10**6)
    mine = [o for o in owed if o[0] in (pending, written, fresh, stale, dying)]
    assert sorted(mine) == sorted([(pending, ronda), (stale, ronda)])
    age(dying, ronda, 121)  # that completion died
    assert (dying, ronda) in store.owed(120, 120, limit=10**6)
