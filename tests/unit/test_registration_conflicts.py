"""Registration when Keycloak answers that the username (a Mexican's RFC) or the email is taken: this
registration's own account whose answer was lost is used; the dead account of a rejected application or
of an interrupted registration makes room; every other holder is refused and kept. And a slow
registration that the reconciler completed first is a success, not a rollback."""
from __future__ import annotations

import html

import pytest
from keycloak_ext import AccountConflict

from registro.domain.storage_keys import responsiva_key
from registro.kernel.applications import Intent
from registro.registration.forms import DUPLICATE_MESSAGES
from tests.support.registration import RFC, field_error, mexican_form, post_registration, random_person

ORPHAN_FOLIO = "AU-2026-HVRFANA1"


def _account_of(fakes, username: str):
    return fakes.identity.find_by_username(username)


def _confirmations(fakes) -> list[str]:
    return [r["application_id"] for r in fakes.outbox_store.rows.values() if r["kind"] == "confirmacion"]


def _reject(fakes, account_id: str) -> None:
    """What the review's rejection leaves: the record `rechazado`, the account disabled, the application
    rejected and its identifiers released."""
    fakes.identity.update_account(account_id, enabled=False, attributes={"estatus": "rechazado"})
    fakes.applications.reject(account_id, "documentos falsos")


def _holder(fakes, *, folio: str | None, enabled: bool = False, username: str = RFC,
            email: str = "ana.pena@example.com") -> str:
    """An account already in Keycloak with this username and email, made outside this registration."""
    attributes = {"folio": folio} if folio else {}
    return fakes.identity.create_account(username=username, email=email, first_name="Ana", last_name="Peña",
                                         attributes=attributes, enabled=enabled)


# --- (a) this registration's own account -----------------------------------------------------------
def test_an_answer_lost_after_keycloak_made_the_account_goes_on_with_that_account(client, fakes, monkeypatch):
    """Keycloak committed the create but its answer was lost (urllib3 retried the POST and got 409):
    the account carrying this intent's folio is this registration's own."""
    made = fakes.identity.create_account

    def committed_then_409(**kwargs):
        made(**kwargs)
        raise AccountConflict("409 del reintento")

    monkeypatch.setattr(fakes.identity, "create_account", committed_then_409)
    assert post_registration(client, mexican_form()).status_code == 302
    (account,) = fakes.identity.accounts.values()
    (app,) = fakes.applications.apps.values()
    assert app["state"] == "activa" and app["account_id"] == account.id
    assert app["intent"].folio == account.attr("folio")
    assert responsiva_key(account.id, account.attr("folio")) in fakes.storage.objects
    assert _confirmations(fakes) == [app["intent"].id]


# --- (b) a dead account makes room ---------------------------------------------------------------------
def test_a_rejected_applicant_registers_again(client, fakes):
    form = mexican_form()
    assert post_registration(client, form).status_code == 302
    first = _account_of(fakes, RFC)
    _reject(fakes, first.id)
    assert post_registration(client, form).status_code == 302
    second = _account_of(fakes, RFC)
    assert second.id != first.id and first.id not in fakes.identity.accounts
    assert second.attr("estatus") == "pendiente_correo" and second.attr("folio") != first.attr("folio")
    assert fakes.applications.state_of(first.id) == "rechazada"  # the earlier rejection stays as history
    assert fakes.applications.state_of(second.id) == "activa"
    assert fakes.applications.rejections_of({"curp": form["curp"]}) == 1


def test_an_account_deleted_in_keycloaks_console_makes_room_and_leaves_nothing_behind(client, fakes):
    """The purge and the retention periods look for live applications: the documents of one whose account
    an operator deleted in the admin console, and what the machine read of them, stayed for good."""
    form = mexican_form()
    assert post_registration(client, form).status_code == 302
    first = _account_of(fakes, RFC)
    fakes.reading_store.keep(first.id, "curp", {"version": "v1", "documento": "x", "sha256": "a" * 64,
                                                "leido": True, "motivos": [], "campos": []})
    assert [k for k in fakes.storage.objects if first.id in k]  # its responsiva
    fakes.identity.accounts.pop(first.id)  # the admin console: Keycloak alone
    assert post_registration(client, form).status_code == 302
    second = _account_of(fakes, RFC)
    assert second.id != first.id and fakes.applications.state_of(second.id) == "activa"
    assert fakes.applications.state_of(first.id) == "cancelada"
    assert [k for k in fakes.storage.objects if first.id in k] == []
    assert fakes.reading_store.get(first.id, "curp") is None


def test_the_dead_account_that_makes_room_takes_its_undelivered_emails(client, fakes, monkeypatch):
    """A rejection email still waiting (an SMTP outage) when the rejected person registers again: the
    account it speaks of is deleted, so it is not sent later; the new registration's email is. The
    database's change comes before Keycloak's delete, so a retry still finds the account dead."""
    from registro.adapters.mail import OutgoingEmail

    form = mexican_form()
    assert post_registration(client, form).status_code == 302
    first = _account_of(fakes, RFC)
    _reject(fakes, first.id)
    waiting = fakes.outbox_store.add("decision", OutgoingEmail(to="ana.pena@example.com", subject="Rechazada",
                                                               text="…", html="…"), account_id=first.id)
    order = []
    cancel, delete = fakes.applications.cancel_account, fakes.identity.delete_account
    monkeypatch.setattr(fakes.applications, "cancel_account", lambda *a: order.append("database") or cancel(*a))
    monkeypatch.setattr(fakes.identity, "delete_account", lambda *a: order.append("keycloak") or delete(*a))
    assert post_registration(client, form).status_code == 302
    assert order[:2] == ["database", "keycloak"]
    assert waiting not in fakes.outbox_store.rows
    assert fakes.applications.state_of(first.id) == "rechazada"  # still the earlier rejection, as history
    assert len(_confirmations(fakes)) == 2


def test_the_orphan_account_of_an_interrupted_registration_makes_room(client, fakes):
    """A disabled account carrying the folio of a registration that was undone (its intent cancelled):
    what a lost Keycloak answer used to leave for good."""
    left = Intent.new(folio=ORPHAN_FOLIO, username=RFC, link_version="v", es_extranjero=False)
    fakes.applications.begin(left, {})
    fakes.applications.cancel(left.id, "registro fallido antes de crear la cuenta")
    orphan = _holder(fakes, folio=ORPHAN_FOLIO)
    assert post_registration(client, mexican_form()).status_code == 302
    assert orphan not in fakes.identity.accounts
    (account,) = fakes.identity.accounts.values()
    assert account.attr("folio") != ORPHAN_FOLIO and fakes.applications.state_of(account.id) == "activa"


# --- (c) never deleted ---------------------------------------------------------------------------------
@pytest.mark.parametrize("holder", ["enabled", "no_folio", "intent_in_flight", "no_application"])
def test_a_holder_of_the_rfc_that_is_not_dead_is_refused_and_kept(client, fakes, holder):
    """"no_application": a disabled account with a folio that no application names — one made before the
    database, not yet recorded by the backfill, is an applicant still in progress."""
    if holder == "intent_in_flight":  # another registration between its intent and its completion
        fakes.applications.begin(Intent.new(folio=ORPHAN_FOLIO, username=RFC, link_version="v",
                                            es_extranjero=False), {})
    kept = _holder(fakes, folio=None if holder == "no_folio" else ORPHAN_FOLIO, enabled=holder == "enabled",
                   email="otra@example.com")
    page = html.unescape(post_registration(client, mexican_form()).get_data(as_text=True))
    assert field_error(page, "rfc") == DUPLICATE_MESSAGES["rfc"]
    assert list(fakes.identity.accounts) == [kept]
    assert not _confirmations(fakes)


def test_the_account_of_a_live_application_is_refused_and_kept(client, fakes):
    """An application waiting for its link (disabled account, `activa`): another person with its email."""
    assert post_registration(client, mexican_form()).status_code == 302
    first = _account_of(fakes, RFC)
    assert not first.enabled
    curp, rfc = random_person()
    page = html.unescape(post_registration(client, mexican_form(curp=curp, rfc=rfc, nombre="Beatriz"))
                         .get_data(as_text=True))
    assert field_error(page, "email") == DUPLICATE_MESSAGES["email"]
    assert list(fakes.identity.accounts) == [first.id] and fakes.applications.state_of(first.id) == "activa"


def test_a_rejected_application_whose_account_is_still_enabled_is_kept(client, fakes):
    form = mexican_form()
    assert post_registration(client, form).status_code == 302
    first = _account_of(fakes, RFC)
    _reject(fakes, first.id)
    fakes.identity.update_account(first.id, enabled=True)  # an operator enabled it again by hand
    page = html.unescape(post_registration(client, form).get_data(as_text=True))
    assert field_error(page, "rfc") == DUPLICATE_MESSAGES["rfc"]
    assert list(fakes.identity.accounts) == [first.id]


# --- the reconciler completed it first --------------------------------------------------------------
def test_a_registration_the_reconciler_completed_first_succeeds_without_rollback(client, fakes, monkeypatch):
    """Keycloak was slow: the reconciler found the account and completed the application (queuing the
    email) before registration's own `complete`, which then finds no `creando` row."""
    complete = fakes.applications.complete

    def reconciler_first(application_id, account_id, email, kind="confirmacion", events=()):
        assert complete(application_id, account_id, email, kind, events)  # the reconciler's transaction
        return False

    monkeypatch.setattr(fakes.applications, "complete", reconciler_first)
    assert post_registration(client, mexican_form()).status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert fakes.applications.state_of(account.id) == "activa"
    assert responsiva_key(account.id, account.attr("folio")) in fakes.storage.objects
    assert len(_confirmations(fakes)) == 1


def test_a_registration_the_reconciler_cancelled_is_undone(client, fakes, monkeypatch):
    def reconciler_cancelled(application_id, account_id, email, kind="confirmacion", events=()):
        assert fakes.applications.cancel(application_id, "registro interrumpido antes de crear la cuenta")
        return False

    monkeypatch.setattr(fakes.applications, "complete", reconciler_cancelled)
    assert post_registration(client, mexican_form()).status_code == 503
    assert not fakes.identity.accounts and not fakes.storage.objects and not _confirmations(fakes)
