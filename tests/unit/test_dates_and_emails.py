"""Issue 11, items 14 (the reviewer's ID-expiry check counts days in Mexico City, like the applicant's),
18 (the approval email shows the username in capitals) and 19 (the expiry hint names no date format
that could contradict the visitor's date picker; typed day/month/year is understood)."""
from __future__ import annotations

import dataclasses
import html
import os
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from registro.domain.application import Application
from registro.documents.forms import parse_expiry
from tests.support import files
from tests.support.applications import create_application, path_of, upload
from registro.review.leases import Reviewer
from registro.review.service import ReviewService
from tests.support import review_data as data
from tests.unit.conftest import unit_settings

MEXICO_CITY = ZoneInfo("America/Mexico_City")
ANA = Reviewer("id-ana", "ana.revisora")


@pytest.fixture
def service(app, fakes):
    with app.test_request_context():
        yield ReviewService(fakes.identity, fakes.storage, app.extensions["registro.adapters"].outbox,
                            unit_settings(), leases=fakes.review_leases, decisions=fakes.decisions, audit=fakes.audit)


@pytest.fixture
def server_zone_on_another_day():
    """Puts the process in a time zone whose calendar day differs from Mexico City's right now, and
    returns the expiry date on which the two disagree: UTC+14 is a day ahead from 04:00 in Mexico City,
    UTC-12 a day behind before 06:00."""
    mx_now = datetime.now(MEXICO_CITY)
    if mx_now.hour >= 4:
        zone, expiry, expected = "Etc/GMT-14", mx_now.date(), "vigente"  # the server would call it expired
    else:
        zone, expiry, expected = "Etc/GMT+12", mx_now.date() - timedelta(days=1), "venció"  # ... still valid
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield expiry, expected
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_reviewer_expiry_check_uses_mexico_city_day(service, fakes, server_zone_on_another_day):
    expiry, expected = server_zone_on_another_day
    pending = data.create_pending(fakes.identity, fakes.storage, vigencia=expiry.isoformat())
    detail = service.detail(pending.id)
    check = next(c for c in detail.checks if c.name == "Vigencia de la identificación")
    assert expected in check.detail, check


def test_approval_email_shows_the_username_in_capitals(service, fakes):
    pending = data.create_pending(fakes.identity, fakes.storage)
    rfc_username = "malr900615t57"  # how Keycloak stores an RFC username
    account = fakes.identity.accounts[pending.id]
    fakes.identity.accounts[pending.id] = dataclasses.replace(account, username=rfc_username)
    service.claim(pending.id, ANA)
    app = service.application(pending.id)
    from registro.review.service import documents_digest, round_id
    service.approve(pending.id, ANA, round_seen=round_id(app), digest_seen=documents_digest(app))
    email = fakes.mailer.to(pending.email)[-1]
    assert "Usuario: MALR900615T57" in email.text
    assert "MALR900615T57" in email.html and rfc_username not in email.html and rfc_username not in email.text


def test_expiry_hint_names_no_format_and_typed_dates_are_understood(client, fakes, app):
    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    page = html.unescape(client.get(path_of(link)).get_data(as_text=True))
    hint = re.search(r'<p class="ayuda" id="vigencia-ayuda">([^<]*)</p>', page).group(1)
    # The date picker shows the visitor's own locale format (dd/mm/aaaa in es-MX, mm/dd/yyyy in en-US):
    # any format printed in the hint contradicts one of them.
    assert not re.search(r"aaaa|dd|mm|yyyy|\d{4}-\d{2}", hint), hint
    assert re.search(r'<input type="date" id="identificacion-vigencia"', page)
    # A browser without a date picker sends what was typed, the Mexican way; it is stored as ISO.
    next_year = datetime.now(MEXICO_CITY).year + 1
    r = upload(client, link, "identificacion", files.png_bytes(), "ine.png", vigencia=f"31/12/{next_year}")
    assert r.status_code in (200, 302, 303), r.status_code
    record = Application(fakes.identity.get_account(account_id)).documents["identificacion"]
    assert record.details["vigencia"] == f"{next_year}-12-31"


@pytest.mark.parametrize("raw, iso", [("2030-12-31", "2030-12-31"), ("31/12/2030", "2030-12-31"),
                                      ("1/2/2030", "2030-02-01"), ("31-12-2030", "2030-12-31"),
                                      ("31/02/2030", None), ("12/31/2030", None), ("2030-02-30", None), ("mañana", None)])
def test_parse_expiry(raw, iso):
    parsed = parse_expiry(raw)
    assert (parsed.isoformat() if parsed else None) == iso
