"""The supervisor's figures against a hand-built fixture: every number below was counted by hand."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from registro.kernel import audit as audit_mod
from registro.kernel.audit import APPROVE, CORRECTION, REJECT, AuditTrail
from registro.review.supervision import decisions_between, decisions_csv, summarize
from tests.fake_queue import FakeQueueIndex
from tests.fakes import FakeAuditLog
from tests.support.queue_contract import application_row
from tests.unit.test_review_web import log_in

NOW = datetime(2026, 3, 4, 18, 0, tzinfo=timezone.utc)  # 12:00 in Mexico City


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def index():
    rows = [application_row(f"p{n}", folio=f"AU-{n}", first_name="X", last_name="", tipo_usuario="transportista",
                            submitted_at=NOW - timedelta(days=days))
            for n, days in enumerate((0.5, 1.9, 2.0, 3.5, 5, 7.9, 8.0, 30))]
    return FakeQueueIndex(lambda: rows, clock=NOW.timestamp)


@pytest.fixture
def store(monkeypatch):
    store = FakeAuditLog()
    trail = AuditTrail(store)
    # (when decided, UTC; reviewer; action; hours since submission; reasons)
    decided = [
        (datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc), "ana", APPROVE, 10, {}),
        (datetime(2026, 3, 2, 16, 0, tzinfo=timezone.utc), "ana", APPROVE, 30, {}),
        (datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc), "ana", CORRECTION, 5,
         {"curp": ["ilegible"], "identificacion": ["ilegible", "vencido"]}),
        # 03:00 UTC on the 3rd is still the 2nd in Mexico City (21:00)
        (datetime(2026, 3, 3, 3, 0, tzinfo=timezone.utc), "beto", REJECT, 50, {}),
        (datetime(2026, 3, 3, 20, 0, tzinfo=timezone.utc), "beto", APPROVE, 2, {}),
        (datetime(2026, 2, 20, 20, 0, tzinfo=timezone.utc), "beto", APPROVE, 99, {}),  # outside the range
    ]
    for n, (at, who, action, hours, reasons) in enumerate(decided):
        monkeypatch.setattr(audit_mod, "_now", lambda at=at: at.isoformat())
        trail.record(action, f"s{n}", actor_id=f"id-{who}", actor_username=who, status_before="en_revision",
                     status_after="x", reasons=reasons,
                     details={"folio": f"AU-D{n}", "ronda": f"r{n}", "fecha_envio": iso(at - timedelta(hours=hours))})
    trail.record(audit_mod.CLAIM, "s0", actor_id="id-ana", actor_username="ana")  # not a decision
    monkeypatch.undo()
    return store


def test_figures_match_the_hand_built_fixture(index, store):
    events = decisions_between(AuditTrail(store), date(2026, 3, 1), date(2026, 3, 4))
    f = summarize(events, index, date(2026, 3, 1), date(2026, 3, 4), NOW.timestamp())
    assert f.pending_total == 8
    assert f.pending_by_age == [("0 a 1 días", 2), ("2 a 3 días", 2), ("4 a 7 días", 2), ("Más de 7 días", 2)]
    assert f.oldest.account_id == "p7" and round(f.oldest_age_days) == 30
    assert f.per_reviewer_day == [("2026-03-02", "ana", {APPROVE: 2, CORRECTION: 1}),
                                  ("2026-03-02", "beto", {REJECT: 1}),
                                  ("2026-03-03", "beto", {APPROVE: 1})]
    assert f.decisions_total == 5
    assert f.median_hours_to_decision == pytest.approx(10.0)  # median of 10, 30, 5, 50, 2
    assert f.corrections_by_reason == [("El documento no es legible.", 2), ("El documento no está vigente.", 1)]


def test_csv_export_of_a_date_range(store):
    events = decisions_between(AuditTrail(store), date(2026, 3, 3), date(2026, 3, 3))
    rows = list(csv.DictReader(io.StringIO(decisions_csv(events))))
    assert [(r["revisor"], r["decision"], r["folio"], r["horas_hasta_decision"]) for r in rows] == \
        [("beto", "Aprobada", "AU-D4", "2.00")]


def test_a_range_is_read_in_one_query_from_local_midnight_to_local_midnight(store):
    asked = []

    class Counting:
        def between(self, start, end, actions):
            asked.append((start, end, actions))
            return store.between(start, end, actions)

    events = decisions_between(AuditTrail(Counting()), date(2025, 3, 5), date(2026, 3, 4))  # 365 days
    assert len(events) == 6
    assert asked == [(datetime(2025, 3, 5, 6, 0, tzinfo=timezone.utc), datetime(2026, 3, 5, 6, 0, tzinfo=timezone.utc),
                      audit_mod.DECISIONS)]


def test_supervisor_page_and_csv_over_http(client, fakes):
    log_in(client, fakes, roles=("supervisor",))
    page = client.get("/supervision/?desde=2026-03-01&hasta=2026-03-04")
    assert page.status_code == 200 and "Pendientes por antigüedad" in page.get_data(as_text=True)
    r = client.get("/supervision/decisiones.csv?desde=2026-03-01&hasta=2026-03-04")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.get_data(as_text=True).lstrip("\ufeff").startswith("fecha_decision,revisor,decision")


def test_the_supervision_page_stays_spanish_whatever_the_visitor_chose(client, fakes):
    """A staff page: Spanish only, as /revision — no language switch, <html lang="es-MX">, even with an
    English cookie left by the applicant pages or ?lang=en."""
    log_in(client, fakes, roles=("supervisor",))
    client.get("/registro?lang=en")
    for path in ("/supervision/?desde=2026-03-01&hasta=2026-03-04",
                 "/supervision/?desde=2026-03-01&hasta=2026-03-04&lang=en"):
        page = client.get(path).get_data(as_text=True)
        assert '<html lang="es-MX">' in page and "?lang=en" not in page and "Pendientes por antigüedad" in page

