"""What the small state stores moved from S3 to PostgreSQL do — the audit trail (kernel/audit.py
`AuditLog`), the used captcha solutions (adapters/captcha.py `UsedSolutions`) and the direct uploads'
markers (documents/direct_uploads.py `UploadMarkers`). Run on the in-memory twins of tests/fakes.py
(tests/unit/test_state_stores.py) and on the real tables (tests/integration/test_state_tables.py).
Every test names its own applications (uuid4), so runs on one database do not collide."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

from registro.kernel import audit as au
from registro.documents import direct_uploads as du

T0 = datetime(2026, 3, 3, 6, 0, tzinfo=timezone.utc)  # 00:00 in Mexico City


def _id() -> str:
    return str(uuid.uuid4())


def _at_once(jobs) -> list:
    """Runs the callables in threads released together; their results in the jobs' order."""
    results: list = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i, job):
        barrier.wait()
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- the audit trail -------------------------------------------------------------------------------------
def _event(account_id: str, action: str, at: datetime, **extra) -> au.AuditEvent:
    return au.AuditEvent(action=action, account_id=account_id, actor_id="r1", actor_username="revisora",
                         at=at.isoformat(), event_id=uuid.uuid4().hex[:12], **extra)


def an_application_history_is_kept_in_time_order_and_never_rewritten(log) -> None:
    account, other = _id(), _id()
    later = _event(account, au.APPROVE, T0 + timedelta(minutes=5), reasons={"curp": ["ilegible"]},
                   details={"folio": "AU-1", "ronda": "r"}, documents_sha256={"curp": "ab" * 32})
    earlier = _event(account, au.CLAIM, T0 + timedelta(minutes=1))
    assert log.append(later) and log.append(earlier) and log.append(_event(other, au.CLAIM, T0))
    assert log.of_account(account) == [earlier, later]  # every field back as written, oldest first
    rewrite = au.AuditEvent(**{**later.__dict__, "action": au.REJECT, "comment": "cambiado"})
    assert log.append(rewrite) is False  # its event_id is taken: nothing changes
    assert log.of_account(account) == [earlier, later]
    assert log.of_account(_id()) == []


def decisions_are_read_by_time_window(log) -> None:
    account = _id()
    start, end = T0 + timedelta(days=400), T0 + timedelta(days=401)  # a day no other test writes
    inside = [_event(account, au.APPROVE, start), _event(account, au.CORRECTION, end - timedelta(microseconds=1)),
              _event(account, au.REJECT, start + timedelta(hours=3))]
    outside = [_event(account, au.APPROVE, start - timedelta(microseconds=1)), _event(account, au.REJECT, end),
               _event(account, au.CLAIM, start + timedelta(hours=1))]  # not a decision
    for event in inside + outside:
        assert log.append(event)
    found = au.AuditTrail(log).decisions_between(start, end)
    assert found == sorted(inside, key=lambda e: au.moment(e.at))
    # The same window given in another offset is the same moments.
    mexico = timezone(timedelta(hours=-6))
    assert au.AuditTrail(log).decisions_between(start.astimezone(mexico), end.astimezone(mexico)) == found


def concurrent_records_are_all_kept(log) -> None:
    account = _id()
    trail = au.AuditTrail(log)
    made = _at_once([lambda: trail.record(au.CLAIM, account, actor_id="r", actor_username="r") for _ in range(8)])
    assert sorted(e.event_id for e in trail.history(account)) == sorted(e.event_id for e in made)
    assert len({e.event_id for e in made}) == 8


# --- used captcha solutions --------------------------------------------------------------------------------
def a_solution_is_used_once_even_at_once(used) -> None:
    signature = uuid.uuid4().hex + uuid.uuid4().hex
    expires = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert used.use(signature, expires) is True
    assert used.use(signature, expires) is False
    other = uuid.uuid4().hex + uuid.uuid4().hex
    assert sorted(_at_once([lambda: used.use(other, expires) for _ in range(8)])) == [False] * 7 + [True]


def expired_uses_are_forgotten_and_live_ones_kept(used) -> None:
    now = datetime.now(timezone.utc) + timedelta(days=3650)  # later than any other test's uses
    old, live = uuid.uuid4().hex, uuid.uuid4().hex
    assert used.use(old, now - timedelta(seconds=1)) and used.use(live, now + timedelta(seconds=300))
    assert used.forget_expired(now) >= 1
    assert used.use(live, now + timedelta(seconds=300)) is False  # still remembered
    assert used.use(old, now - timedelta(seconds=1)) is True  # forgotten (it can no longer be replayed anyway)
    assert used.forget_expired(now) >= 1
    assert used.forget_expired(now) == 0


# --- direct uploads' markers -------------------------------------------------------------------------------
def _receipt(account_id: str, issued: datetime, kind: str = "curp") -> du.Receipt:
    return du.Receipt(account_id=account_id, kind=kind, key=f"solicitudes/{account_id}/documentos/{kind}/"
                      f"{uuid.uuid4().hex}", size=10, name="ñandú.pdf", details={"numero": "1"},
                      issued=issued.isoformat(), link_version="v1")


def _checking(receipt: du.Receipt) -> du.Marker:
    return du.Marker(du.CHECKING, receipt, since=datetime.now(timezone.utc).replace(microsecond=0).isoformat())


def the_later_issued_upload_holds_the_marker_whatever_the_order(marks) -> None:
    account = _id()
    now = datetime.now(timezone.utc)
    # Issue times as `issue` writes them: a whole second prints without microseconds and sorts first.
    early, late = _receipt(account, now.replace(microsecond=0)), _receipt(account, now.replace(microsecond=1))
    assert marks.mark(_checking(late)) == du.MARKED
    assert marks.mark(_checking(early)) == du.LATER
    held = marks.get(account, "curp")
    assert (held.state, held.receipt) == (du.CHECKING, late)
    assert marks.mark(_checking(late)) == du.ALREADY  # a second confirmation of the same receipt
    newest = _receipt(account, now + timedelta(seconds=1))
    assert marks.mark(_checking(newest)) == du.MARKED
    assert marks.get(account, "curp").receipt == newest
    other_kind = _receipt(account, now, kind="rfc")
    assert marks.mark(_checking(other_kind)) == du.MARKED  # one marker per document
    assert {m.receipt.kind for m in marks.of_account(account)} == {"curp", "rfc"}
    assert marks.get(_id(), "curp") is None and marks.of_account(_id()) == []


def concurrent_marks_leave_the_latest_issued(marks) -> None:
    account = _id()
    now = datetime.now(timezone.utc)
    receipts = [_receipt(account, now + timedelta(microseconds=n)) for n in range(8)]
    outcomes = _at_once([lambda r=r: marks.mark(_checking(r)) for r in reversed(receipts)])
    assert set(outcomes) <= {du.MARKED, du.LATER} and du.MARKED in outcomes
    assert marks.get(account, "curp").receipt == receipts[-1]


def an_outcome_is_written_only_for_the_upload_the_marker_names(marks) -> None:
    account = _id()
    now = datetime.now(timezone.utc)
    first, second = _receipt(account, now), _receipt(account, now + timedelta(seconds=1))
    marks.mark(_checking(first))
    marks.mark(_checking(second))
    assert marks.finish(first, du.REFUSED, "tarde") is False  # superseded: the newer marker is untouched
    assert marks.get(account, "curp").state == du.CHECKING
    assert marks.finish(second, du.REFUSED, "No se recibió el archivo.") is True
    held = marks.get(account, "curp")
    assert (held.state, held.message, held.receipt) == (du.REFUSED, "No se recibió el archivo.", second)
    assert marks.finish(_receipt(_id(), now), du.DONE, "") is False  # no marker at all


def a_lost_check_is_taken_up_by_one_view(marks) -> None:
    account = _id()
    receipt = _receipt(account, datetime.now(timezone.utc))
    stale = du.Marker(du.CHECKING, receipt, since="2026-01-01T00:00:00+00:00")
    marks.mark(stale)
    seen = marks.get(account, "curp")
    assert seen.since == stale.since
    renewals = _at_once([lambda n=n: marks.renew(seen, f"2026-01-01T00:05:0{n}+00:00") for n in range(4)])
    assert sorted(renewals) == [False, False, False, True]
    assert marks.get(account, "curp").since.startswith("2026-01-01T00:05:0")
    assert marks.renew(seen, "2026-01-01T00:09:00+00:00") is False  # the read is out of date now


def forgetting_an_application_deletes_its_markers_only(marks) -> None:
    gone, kept = _id(), _id()
    now = datetime.now(timezone.utc)
    for account in (gone, kept):
        marks.mark(_checking(_receipt(account, now)))
        marks.mark(_checking(_receipt(account, now, kind="rfc")))
    assert marks.forget(gone) == 2
    assert marks.of_account(gone) == [] and len(marks.of_account(kept)) == 2
    assert marks.forget(gone) == 0
