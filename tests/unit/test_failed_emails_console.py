"""The emails that kept failing, in the review console (issue 20, item 5): listed on the queue page
with their kind, application, attempts and reason — never the address or the contents — and queued
again by a POST that needs the CSRF token and the reviewer role."""
from __future__ import annotations

import re

from registro.adapters.mail import OutgoingEmail
from registro.platform import outbox as outbox_module
from tests.support import review_data as data
from tests.unit.test_review_web import log_in

SECRET = "Contraseña temporal: Zq9!secreto"


def failed_confirmation(fakes) -> tuple[str, int]:
    """An application's email that met SMTP down MAX_ATTEMPTS times."""
    created = data.create_pending(fakes.identity, fakes.storage)
    account = fakes.identity.get_account(created.id)
    fakes.applications.record(created.id, account.username, {**account.attributes, "folio": "AU-2026-CORREO01"})
    row = fakes.outbox_store.add("confirmacion", OutgoingEmail(to=created.email, subject="Asunto", text=SECRET,
                                                               html=f"<p>{SECRET}</p>"), account_id=created.id)
    fakes.mailer.down = True
    for _ in range(outbox_module.MAX_ATTEMPTS):
        fakes.outbox_store.expedite()
        fakes.outbox_store.deliver_due(lambda r: outbox_module.send_email(r, fakes.mailer.send))
    fakes.mailer.down = False
    assert fakes.outbox_store.rows[row]["state"] == "fallido"
    return created.email, row


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_queue_page_lists_a_failed_email_without_address_or_contents(client, fakes):
    email, row = failed_confirmation(fakes)
    log_in(client, fakes)
    page = client.get("/revision/").get_data(as_text=True)
    listed = re.search(rf'<tr data-correo="{row}">(.*?)</tr>', page, re.S).group(1)
    assert "Confirmación de registro" in listed and "AU-2026-CORREO01" in listed
    assert f"<td>{outbox_module.MAX_ATTEMPTS}</td>" in listed and "MailUnavailable" in listed
    assert f'action="/revision/correos/{row}/reenviar"' in listed
    assert email not in page and "secreto" not in page


def test_queuing_again_needs_the_csrf_token_and_the_reviewer_role(client, fakes):
    email, row = failed_confirmation(fakes)
    log_in(client, fakes)
    token = token_of(client.get("/revision/").get_data(as_text=True))
    assert client.post(f"/revision/correos/{row}/reenviar").status_code == 400  # no token
    log_in(client, fakes, roles=("supervisor",), user_id="id-sara")  # same browser, a supervisor's session
    refused = client.post(f"/revision/correos/{row}/reenviar", data={"csrf_token": token})
    assert refused.status_code == 403 and "rol de revisor" in refused.get_data(as_text=True)
    assert fakes.outbox_store.rows[row]["state"] == "fallido" and fakes.mailer.to(email) == []

    log_in(client, fakes)
    r = client.post(f"/revision/correos/{row}/reenviar", data={"csrf_token": token})
    assert r.status_code == 303 and r.location.endswith("/revision/")
    assert "volvió a la cola de envío" in client.get(r.location).get_data(as_text=True)
    (sent,) = fakes.mailer.to(email)  # delivered (in the caller's thread here; by the worker in gunicorn)
    assert SECRET in sent.text and fakes.outbox_store.rows[row]["message"] == b""
    again = client.post(f"/revision/correos/{row}/reenviar", data={"csrf_token": token})
    assert "ya no está entre los que fallaron" in client.get(again.location).get_data(as_text=True)
    assert len(fakes.mailer.to(email)) == 1
