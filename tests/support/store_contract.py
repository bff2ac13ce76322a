"""What every ApplicationStore and OutboxStore must do, run against the in-memory twins (unit tests)
and against PostgreSQL (tests/integration/test_database.py): a twin cannot drift from the real thing."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from registro.adapters.mail import MailUnavailable, OutgoingEmail
from registro.kernel.applications import FolioTaken, IdentifiersTaken, Intent
from registro.platform import outbox as outbox_module

CURP = "PELA800101MDFXXX09"


def intent(folio: str, username: str = "u") -> Intent:
    return Intent.new(folio=folio, username=username, link_version="v1", es_extranjero=False)


def email(to: str = "ana@example.com") -> OutgoingEmail:
    return OutgoingEmail(to=to, subject="Asunto", text="texto", html="<p>texto</p>")


def concurrent_intents_of_one_curp_have_one_winner(store, folio_prefix: str) -> None:
    def attempt(i):
        try:
            store.begin(intent(f"{folio_prefix}{i:04d}", f"user{i}"), {"curp": CURP, "pasaporte": f"US:P{i}"})
            return "ok"
        except IdentifiersTaken as exc:
            return exc.kinds

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(attempt, range(12)))
    assert results.count("ok") == 1, results
    assert all(r == ["curp"] for r in results if r != "ok")


def a_folio_is_never_drawn_twice(store, folio: str) -> None:
    store.begin(intent(folio, "a"), {})
    with pytest.raises(FolioTaken):
        store.begin(intent(folio, "b"), {})


def rejection_and_cancellation_release_the_identifiers(store, folio_prefix: str) -> None:
    first = intent(f"{folio_prefix}0001", "primera")
    store.begin(first, {"curp": CURP})
    assert store.complete(first.id, f"cuenta-{first.id}", None)
    with pytest.raises(IdentifiersTaken) as taken:
        store.begin(intent(f"{folio_prefix}0002", "segunda"), {"curp": CURP})
    (holder,) = taken.value.holders
    assert holder.state == "activa" and holder.account_id == f"cuenta-{first.id}"
    store.reject(f"cuenta-{first.id}", "documentos falsos")
    assert store.rejections_of({"curp": CURP}) == 1
    assert store.rejected_accounts({"curp": CURP, "rfc": "OTRO"}) == [f"cuenta-{first.id}"]
    assert store.rejected_accounts({"curp": "NADIE"}) == [] and store.rejected_accounts({}) == []
    second = intent(f"{folio_prefix}0003", "tercera")
    store.begin(second, {"curp": CURP})  # released by the rejection
    store.cancel(second.id, "prueba")
    store.begin(intent(f"{folio_prefix}0004", "cuarta"), {"curp": CURP})  # released by the cancellation


def released_identifiers_are_history_only(store, folio_prefix: str) -> None:
    """An application rejected before the database kept it (ops/backfill.py): its identifiers count as an
    earlier rejection and hold nothing."""
    old = intent(f"{folio_prefix}0001", "antigua")
    store.begin(old, {})
    assert store.complete(old.id, f"cuenta-{old.id}", None)
    store.reject(f"cuenta-{old.id}", "registrada antes de la base de datos")
    store.record_released(old.id, {"curp": CURP})
    assert store.rejections_of({"curp": CURP}) == 1 and store.rejected_accounts({"curp": CURP}) == [f"cuenta-{old.id}"]
    store.begin(intent(f"{folio_prefix}0002", "nueva"), {"curp": CURP})  # nothing held


def complete_changes_only_an_intent_and_queues_its_email(store, outbox_store, folio: str) -> None:
    it = intent(folio)
    store.begin(it, {})
    before = outbox_store.pending_count()
    assert store.complete(it.id, f"cuenta-{it.id}", email())
    assert outbox_store.pending_count() == before + 1
    assert store.account_of_folio(folio.lower()) == f"cuenta-{it.id}"
    assert not store.complete(it.id, "otra", email())  # already active: nothing changes, nothing queued
    assert outbox_store.pending_count() == before + 1
    cancelled = intent(folio + "C")
    store.begin(cancelled, {})
    store.cancel(cancelled.id, "conciliación")
    assert not store.complete(cancelled.id, "tarde", email())  # the reconciler won: the late create loses


def cancel_undoes_only_an_intent(store, folio_prefix: str) -> None:
    """The reconciler cancels an intent after a slow Keycloak lookup: a registration that completed
    meanwhile stays `activa`, its identifiers held; an intent still `creando` is cancelled, once."""
    slow = intent(f"{folio_prefix}0001", "lenta")
    store.begin(slow, {"curp": CURP})
    account = f"cuenta-{slow.id}"
    assert store.complete(slow.id, account, None)
    assert store.cancel(slow.id, "conciliación") is False
    assert store.state_of_account(account) == "activa"
    assert store.account_of_folio(slow.folio) == account
    with pytest.raises(IdentifiersTaken):
        store.begin(intent(f"{folio_prefix}0002", "otra"), {"curp": CURP})
    left = intent(f"{folio_prefix}0003", "interrumpida")
    store.begin(left, {})
    assert store.state_of_account("sin-cuenta", left.folio) == "creando"  # no account named: read by its folio
    assert store.cancel(left.id, "conciliación") is True
    assert store.cancel(left.id, "conciliación") is False
    assert store.state_of_account("sin-cuenta", left.folio) == "cancelada"
    assert store.state_of_account("sin-cuenta", f"{folio_prefix}9999") is None
    assert store.state_of_account("sin-cuenta") is None


def a_rejected_application_keeps_its_folio(store, folio: str) -> None:
    """A rejected applicant may ask for a new status link by folio; a cancelled application's account is gone."""
    it = intent(folio, "rechazada")
    store.begin(it, {})
    account = f"cuenta-{it.id}"
    store.complete(it.id, account, None)
    store.reject(account, "documentos falsos")
    assert store.state_of_account(account) == "rechazada"
    assert store.account_of_folio(folio.lower()) == account
    gone = intent(folio + "X", "cancelada")
    store.begin(gone, {})
    store.complete(gone.id, f"cuenta-{gone.id}", None)
    store.cancel_account(f"cuenta-{gone.id}", "cuenta eliminada")
    assert store.account_of_folio(folio + "X") is None


def complete_writes_its_events_in_the_same_change(store, audit_log, folio: str) -> None:
    """The events given to `complete` (the privacy acceptance) are written with it, or not at all when
    the application was no longer an intent."""
    from registro.kernel.audit import new_event

    it = intent(folio)
    store.begin(it, {})
    account = f"cuenta-{it.id}"
    event = new_event("aceptar_aviso_privacidad", account, actor_id="solicitante", actor_username="solicitante",
                      details={"aviso_version": "2026-01", "folio": folio})
    assert store.complete(it.id, account, None, events=[event])
    assert [(e.event_id, e.action, e.details) for e in audit_log.of_account(account)] == [
        (event.event_id, "aceptar_aviso_privacidad", {"aviso_version": "2026-01", "folio": folio})]
    late = new_event("aceptar_aviso_privacidad", account, actor_id="solicitante", actor_username="solicitante")
    assert not store.complete(it.id, account, None, events=[late])  # already active: nothing written
    assert [e.event_id for e in audit_log.of_account(account)] == [event.event_id]


def stale_intents_are_listed_after_their_bound(store, folio: str) -> None:
    notice = {"aviso_version": "2026-01", "aviso_sha256": "ab" * 32, "idioma": "en"}
    it = Intent.new(folio=folio, username="u", link_version="v1", es_extranjero=False, acceptance=notice)
    store.begin(it, {})
    (stale,) = [s for s in store.stale_intents(-1) if s.intent.id == it.id]
    assert dict(stale.intent.acceptance) == notice  # the reconciler writes the acceptance the form made
    assert it.id not in {s.intent.id for s in store.stale_intents(3600)}
    store.complete(it.id, f"cuenta-{it.id}", None)
    assert it.id not in {s.intent.id for s in store.stale_intents(-1)}


def stale_intents_are_listed_page_after_page(store, folio: str) -> None:
    """Each page starts past the last one's position: walked to the end, every intent once."""
    ours = set()
    for n in range(3):
        it = Intent.new(folio=f"{folio}{n}", username=f"u{n}", link_version="v1", es_extranjero=False)
        store.begin(it, {})
        ours.add(it.id)
    seen, after = [], ()
    while page := store.stale_intents(-1, limit=2, after=after):
        assert len(page) <= 2
        seen += [s.intent.id for s in page]
        after = page[-1].position
    assert len(seen) == len(set(seen))  # no intent listed twice
    assert ours <= set(seen)


def unfinished_registrations_are_counted_after_their_bound(store, folio: str) -> None:
    """What the alert on half-made registrations reads: `creando` past the bound, until completed."""
    before_all, before_old = store.unfinished_count(-1), store.unfinished_count(3600)
    it = intent(folio)
    store.begin(it, {})
    assert store.unfinished_count(-1) == before_all + 1
    assert store.unfinished_count(3600) == before_old  # in flight, not yet the reconciler's
    store.complete(it.id, f"cuenta-{it.id}", None)
    assert store.unfinished_count(-1) == before_all


def outbox_health_tells_waiting_rows_from_held_and_failed_ones(outbox_store, make_due, backdate) -> None:
    """What the alerts read, on an outbox with no other pending or failed row: a held row is pending but
    not waiting; a due one waits from when it was written, and still does while it backs off after a
    refusal; one that gave up is failed, no longer pending. `backdate(row, s)` makes a row `s` older."""
    assert outbox_store.health() == outbox_module.OutboxHealth(0, 0.0, 0)
    held = outbox_store.add("prueba", b"retenida", hold_s=3600)
    backdate(held, 600)
    assert outbox_store.health() == outbox_module.OutboxHealth(1, 0.0, 0)
    due = outbox_store.add("prueba", b"debida")
    backdate(due, 120)
    health = outbox_store.health()
    assert (health.pending, health.failed) == (2, 0) and 120 <= health.oldest_waiting_s < 180

    def refuse(row):
        if row.id == due:
            raise MailUnavailable("no")

    outbox_store.deliver_due(refuse, limit=1000)  # refused once: backing off, still waiting
    health = outbox_store.health()
    assert (health.pending, health.failed) == (2, 0) and 120 <= health.oldest_waiting_s < 180
    for _ in range(outbox_module.MAX_ATTEMPTS - 1):
        make_due()
        outbox_store.deliver_due(refuse, limit=1000)
    assert outbox_store.health() == outbox_module.OutboxHealth(1, 0.0, 1)
    outbox_store.release([held])
    assert outbox_store.deliver_due(refuse, limit=1000) == (1, 0)
    assert outbox_store.health() == outbox_module.OutboxHealth(0, 0.0, 1)
    assert outbox_store.retry(due)
    health = outbox_store.health()
    assert (health.pending, health.failed) == (1, 0) and health.oldest_waiting_s >= 120


def outbox_refusals_back_off_and_fail_after_max_attempts(outbox_store, make_due) -> None:
    row = outbox_store.add("prueba", email("falla@example.com"))

    def refuse(row):
        if outbox_module.from_json(row.message).to == "falla@example.com":
            raise MailUnavailable("no")

    for attempt in range(outbox_module.MAX_ATTEMPTS):
        make_due()
        outbox_store.deliver_due(refuse)
    failed = {f.id: f for f in outbox_store.failed()}
    assert failed[row].attempts == outbox_module.MAX_ATTEMPTS and failed[row].last_error == "MailUnavailable"
    assert outbox_store.retry(row) and not outbox_store.retry(row)
    sent = []
    outbox_store.deliver_due(lambda row: sent.append(row.message), limit=1000)
    assert any(outbox_module.from_json(m).to == "falla@example.com" for m in sent)


def two_senders_at_once_send_each_row_once(outbox_store) -> None:
    rows = {outbox_store.add("prueba", email(f"p{i}@example.com")) for i in range(30)}
    sent: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def send(row):
        with lock:
            sent.append(outbox_module.from_json(row.message).to)

    def sender():
        barrier.wait()
        while outbox_store.deliver_due(send, limit=3)[0]:
            pass

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    mine = [t for t in sent if t.startswith("p") and t.endswith("@example.com")]
    assert len(mine) == len(set(mine)) == len(rows)


def held_rows_wait_for_their_release_and_obsolete_ones_are_deleted(outbox_store) -> None:
    """A row written before a change made elsewhere: held until released (an operator's "send now"
    does not release it), deleted unsent when discarded or when its deliverer finds it obsolete."""
    kept = outbox_store.add("prueba", b"retenida", hold_s=3600)
    dropped = outbox_store.add("prueba", b"descartada", hold_s=3600)
    stale = outbox_store.add("prueba", b"obsoleta")
    seen: list[bytes] = []

    def deliver(row):
        if row.message == b"obsoleta":
            raise outbox_module.Obsolete()
        seen.append(row.message)

    before = outbox_store.pending_count()
    outbox_store.expedite()
    outbox_store.deliver_due(deliver, limit=1000)
    assert b"retenida" not in seen and b"descartada" not in seen
    assert outbox_store.pending_count() == before - 1  # the obsolete row is gone, not sent, not failed
    assert stale not in {f.id for f in outbox_store.failed(1000)} and not outbox_store.retry(stale)
    outbox_store.discard([dropped])
    outbox_store.release([kept])
    outbox_store.deliver_due(deliver, limit=1000)
    assert seen.count(b"retenida") == 1 and b"descartada" not in seen
    outbox_store.release([kept])  # a late release of a delivered row changes nothing
    outbox_store.deliver_due(deliver, limit=1000)
    assert seen.count(b"retenida") == 1


def failed_rows_name_their_application_and_reason(store, outbox_store, make_due, folio: str) -> None:
    """The console's list: kind, the application (found from its account), attempts and the reason
    the deliverer gave — no address, no content."""
    it = intent(folio)
    store.begin(it, {})
    store.complete(it.id, f"cuenta-{it.id}", None)
    row = outbox_store.add("recuperacion", b'{"usuario": "x"}', account_id=f"cuenta-{it.id}")

    def refuse(r):
        if r.id == row:
            raise outbox_module.Refused("Keycloak no responde")

    for _ in range(outbox_module.MAX_ATTEMPTS):
        make_due()
        outbox_store.deliver_due(refuse, limit=1000)
    (failed,) = [f for f in outbox_store.failed(1000) if f.id == row]
    assert (failed.kind, failed.application_id, failed.account_id, failed.folio) == (
        "recuperacion", it.id, f"cuenta-{it.id}", folio)
    assert failed.attempts == outbox_module.MAX_ATTEMPTS and failed.last_error == "Keycloak no responde"


def _give_up(outbox_store, make_due, rows: set[int]) -> None:
    """Every row of `rows` refused MAX_ATTEMPTS times: `fallido`."""
    def refuse(row):
        if row.id in rows:
            raise MailUnavailable("no")

    for _ in range(outbox_module.MAX_ATTEMPTS):
        make_due()
        outbox_store.deliver_due(refuse, limit=1000)


def an_old_failed_row_is_retried_by_its_id(store, outbox_store, make_due, folio: str) -> None:
    """Past the console's newest 100: "Reenviar correo" of the oldest failed row still queues it (and says
    whose it was, with its attempts before), and its application's failed rows are found all the same."""
    it = intent(folio)
    store.begin(it, {})
    store.complete(it.id, f"cuenta-{it.id}", None)
    oldest = outbox_store.add("decision", email("vieja@example.com"), account_id=f"cuenta-{it.id}")
    newer = {outbox_store.add("prueba", email(f"n{i}@example.com")) for i in range(100)}
    _give_up(outbox_store, make_due, newer | {oldest})
    assert oldest not in {f.id for f in outbox_store.failed()}  # the console's list: the newest 100
    assert [f.id for f in outbox_store.failed(account_id=f"cuenta-{it.id}")] == [oldest]
    retried = outbox_store.retry(oldest)
    assert retried is not None and (retried.id, retried.kind, retried.application_id, retried.account_id,
                                    retried.folio) == (oldest, "decision", it.id, f"cuenta-{it.id}", folio)
    assert retried.attempts == outbox_module.MAX_ATTEMPTS and retried.last_error == "MailUnavailable"
    assert outbox_store.retry(oldest) is None  # queued already: nothing twice
    assert outbox_store.failed(account_id=f"cuenta-{it.id}") == []
    sent = []
    outbox_store.deliver_due(lambda row: sent.append(row.id), limit=1000)
    assert oldest in sent and not newer & set(sent)


def an_account_gone_takes_its_undelivered_emails(store, outbox_store, make_due, folio: str) -> None:
    """An account deleted in Keycloak's console (noticed when a registration meets its identifiers): its
    application is cancelled and its emails not yet delivered are deleted — their content names the
    person, and `make retry-emails` would otherwise send a link to an account that no longer exists.
    What was delivered stays (content blanked); another application's emails stay."""
    it = intent(folio)
    store.begin(it, {})
    account = f"cuenta-{it.id}"
    store.complete(it.id, account, None)
    failed = outbox_store.add("decision", email("ida@example.com"), account_id=account)
    _give_up(outbox_store, make_due, {failed})
    sent = outbox_store.add("confirmacion", email("ida@example.com"), account_id=account)
    outbox_store.deliver_due(lambda row: None, limit=1000)
    due = outbox_store.add("confirmacion", email("ida@example.com"), account_id=account)
    held = outbox_store.add("decision", email("ida@example.com"), account_id=account, hold_s=3600)
    other = outbox_store.add("prueba", email("otra@example.com"))
    store.cancel_account(account, "cuenta eliminada en Keycloak")
    assert failed not in {f.id for f in outbox_store.retry_failed()}
    outbox_store.release([held])
    delivered = []
    outbox_store.deliver_due(lambda row: delivered.append(row.id), limit=1000)
    assert other in delivered and not {failed, sent, due, held} & set(delivered)


def every_failed_row_is_queued_again(outbox_store, make_due) -> None:
    """The operator's command after an SMTP outage: every `fallido` row is due again with its attempts
    reset; a held row stays held."""
    failed = {outbox_store.add("prueba", email(f"f{i}@example.com")) for i in range(3)}
    _give_up(outbox_store, make_due, failed)
    waiting = outbox_store.add("prueba", email("espera@example.com"), hold_s=3600)
    assert failed <= {f.id for f in outbox_store.failed(1000)}
    retried = outbox_store.retry_failed()
    assert failed <= {f.id for f in retried}
    assert all(f.attempts == outbox_module.MAX_ATTEMPTS and f.last_error == "MailUnavailable"
               for f in retried if f.id in failed)  # each as it was, to be audited
    assert [f.id for f in retried] == sorted(f.id for f in retried)  # oldest first
    assert outbox_store.failed(1000) == [] and outbox_store.retry_failed() == []
    sent = []
    outbox_store.deliver_due(lambda row: sent.append(row.id), limit=1000)
    assert failed <= set(sent) and waiting not in sent
