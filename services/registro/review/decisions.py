"""Review decisions (SPEC §7): approve, request a correction, reject.

Ordering, so that a failure at any point leaves a state a retry completes, and every applied decision
reaches the applicant by email without a reviewer's help:
  1. guards: the reviewer holds the lease, the application is `en_revision` in the round the
     reviewer looked at (its `fecha_envio`), with the documents the reviewer saw;
  2. the decision's emails are composed and written to the outbox *held* (platform/outbox.py: not
     due until released, or until HOLD_S has passed), each with this attempt's nonce (`intento`);
  3. the decision row of that round is inserted (PostgreSQL `decisions`, decision_records.py): the
     unique (account, round) lets exactly one of two identical POSTs (a double click) past this
     point, the other discards its held rows and reports "already decided". A row left `en_curso`
     by a crash before the status changed is taken over after STALE_DECISION_S (a conditional
     UPDATE … WHERE state = 'en_curso' AND updated_at < now() - STALE_DECISION_S: the database's
     clock, so two replicas agree on "stale");
  4. the application is changed: its record (estatus, revision carrying the nonce; a correction's new
     link version) and its account (credentials, enabled) in one transaction of its row
     (kernel/records.py); if that fails, the held rows and the decision row are removed and the
     reviewer can simply try again. The queue, a query over the record, follows by itself;
  5. completion: the held rows are released — the outbox worker sends them at once, and retries
     with backoff while SMTP is down —, the audit event is written, the lease released, the row
     marked `aplicada`.
A process that dies between 4 and 5 loses no email: the held rows fall due after HOLD_S and their
deliverer (decision_emails.DecisionDelivery) sends them because the record holds the decision with
their nonce; rows whose change never happened are deleted unsent. The audit event such a crash
leaves owed is written by whichever comes first: the reviewer repeating the decision (the same POST),
or the background pass (`complete_owed`, every RECONCILE_EVERY_S beside the reconciler: the console
hides the forms once the application left `en_revision`, so nobody may repeat it). Either takes the row
`completando` with one conditional UPDATE — of two replicas only one gets it; another takes it over
only after STALE_COMPLETION_S — and writes the event from the row alone (reviewer, reasons, round, the
documents' SHA-256 the reviewer saw), sending nothing again. The event's id is the decision's own
(`decision_event_id`), so a writer that died after the event and before marking the row finds it
written when the row is taken over: one event per decision, however the completion was interrupted.
An email that keeps failing ends `fallido` in the outbox: the console lists it, and its "Reenviar correo"
queues it again (ReviewService.retry_email).
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from keycloak_ext import AccountNotFound

from registro.adapters.identity import IdentityDirectory
from registro.config import Settings
from registro.domain import status as st
from registro.domain.application import Application, now_iso
from registro.domain.documents import CORRECTION_REASONS
from registro.kernel.links import new_version
from registro.platform.outbox import Outbox
from registro.kernel import audit as audit_actions
from registro.kernel.audit import AuditTrail
from registro.review.decision_emails import DecisionEmails, Letter
from registro.review.decision_records import EN_CURSO, DecisionRow, DecisionStore
from registro.review.leases import LeaseNotHeld, Leases, Reviewer
from registro.review.detail import documents_digest, round_id

log = logging.getLogger(__name__)

APROBAR, CORREGIR, RECHAZAR = "aprobar", "corregir", "rechazar"
STATUS_AFTER = {APROBAR: st.APROBADO, CORREGIR: st.REQUIERE_CORRECCION, RECHAZAR: st.RECHAZADO}
AUDIT_ACTION = {APROBAR: audit_actions.APPROVE, CORREGIR: audit_actions.CORRECTION, RECHAZAR: audit_actions.REJECT}
STALE_DECISION_S = 120
STALE_COMPLETION_S = 120
# How long a decision's rows wait for their release: longer than any change of the application can
# take (its clients time out well before), so a row falling due unreleased means its request died.
HOLD_S = float(STALE_DECISION_S)


class ReviewRefused(Exception):
    """The decision cannot be made; `message` is the Spanish text for the reviewer."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Outcome:
    decision: str
    already_decided: bool = False


class Decisions:
    def __init__(self, identity: IdentityDirectory, records: DecisionStore, outbox: Outbox, settings: Settings,
                 leases: Leases, audit: AuditTrail) -> None:
        # A rejection releases the application's identifiers in the same change as its status (the
        # identity port: kernel/records.RecordedIdentity._write), not in a step a crash could skip.
        self.identity = identity
        self.records = records  # one row per round (decision_records.py)
        self.outbox = outbox
        self.settings = settings
        self.leases = leases
        self.audit = audit
        self.emails = DecisionEmails(settings)

    def _application(self, account_id: str) -> Application:
        return Application(self.identity.get_account(account_id))

    # --- the three decisions --------------------------------------------------------------------
    def approve(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str) -> Outcome:
        mode = self.settings.credentials_mode
        app = self._guard(account_id, reviewer, APROBAR, round_seen, digest_seen)
        if isinstance(app, Outcome):
            return app
        # Chosen now, set by the change below: the held email already carries it (decision_emails.py
        # says what that means while it waits).
        password = self.emails.new_temporary_password(app) if mode == "temporal" else None
        started = self._begin(app, reviewer, APROBAR, self.emails.approval(app, password, mode),
                              {"credenciales": mode})
        if isinstance(started, Outcome):
            return started
        row = started

        def change() -> None:
            if password is not None:
                self.identity.set_temporary_password(app.id, password)
            revision = self._revision(app, reviewer, row.record, {"credenciales": mode})
            self.identity.update_account(app.id, enabled=True, attributes={
                "estatus": st.APROBADO, "revision": revision, "motivos_correccion": None})
            # Effective roles: an account registered into its user type's group already holds the
            # role (no redundant direct mapping); one registered before the groups existed gets it here.
            if app.tipo_usuario and app.tipo_usuario not in self.identity.realm_roles_of(app.id):
                self.identity.assign_realm_role(app.id, app.tipo_usuario)

        self._change(app, row, change)
        password = None
        return self._complete(app, row, reviewer)

    def request_correction(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
                           reasons: dict[str, list[str]], comment: str) -> Outcome:
        reasons = {k: [r for r in v if r in CORRECTION_REASONS] for k, v in reasons.items() if v}
        reasons = {k: v for k, v in reasons.items() if v}
        if not reasons:
            raise ReviewRefused("Indique al menos un motivo de corrección para algún documento.", 400)
        app = self._guard(account_id, reviewer, CORREGIR, round_seen, digest_seen)
        if isinstance(app, Outcome):
            return app
        version = new_version()  # the correction link's: written with the status, so both or neither
        started = self._begin(app, reviewer, CORREGIR, self.emails.correction(app, reasons, comment, version),
                              {"motivos": reasons, "comentario": comment})
        if isinstance(started, Outcome):
            return started
        row = started
        motivos = json.dumps({"documentos": reasons, "comentario": comment, "fecha": now_iso()},
                             ensure_ascii=False, separators=(",", ":"))
        revision = self._revision(app, reviewer, row.record, {"motivos": reasons, "comentario": comment})
        self._change(app, row, lambda: self.identity.update_attributes(app.id, {
            "estatus": st.REQUIERE_CORRECCION, "motivos_correccion": motivos, "revision": revision,
            "enlace_version": version}))
        return self._complete(app, row, reviewer)

    def reject(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
               reason: str) -> Outcome:
        reason = reason.strip()
        if not reason:
            raise ReviewRefused("Indique el motivo del rechazo.", 400)
        app = self._guard(account_id, reviewer, RECHAZAR, round_seen, digest_seen)
        if isinstance(app, Outcome):
            return app
        started = self._begin(app, reviewer, RECHAZAR, self.emails.rejection(app, reason), {"motivo": reason})
        if isinstance(started, Outcome):
            return started
        row = started
        revision = self._revision(app, reviewer, row.record, {"motivo": reason})
        self._change(app, row, lambda: self.identity.update_account(
            app.id, enabled=False, attributes={"estatus": st.RECHAZADO, "revision": revision}))
        return self._complete(app, row, reviewer)

    # --- steps -----------------------------------------------------------------------------------
    def _guard(self, account_id: str, reviewer: Reviewer, decision: str, round_seen: str,
               digest_seen: str) -> Application | Outcome:
        """The application, when this reviewer may decide it now. An Outcome instead when this very
        decision was already made (a repeated POST) — completing it first if a failure interrupted it."""
        app = self._application(account_id)
        if app.status != st.EN_REVISION:
            if app.decision.get("ronda") == round_seen and app.decision.get("accion") == decision:
                return self._repeat(app, reviewer, decision)
            raise ReviewRefused("La solicitud ya no está en revisión; otra decisión ya se registró.")
        if round_seen != round_id(app) or digest_seen != documents_digest(app):
            raise ReviewRefused("La solicitud cambió desde que la abrió (se envió de nuevo o cambiaron sus "
                                "documentos). Revísela otra vez antes de decidir.")
        try:
            self.leases.require(account_id, reviewer)
        except LeaseNotHeld:
            raise ReviewRefused("Para decidir, primero reserve la solicitud (o su reserva venció).") from None
        return app

    def _queue(self, app: Application, nonce: str, letters: list[Letter]) -> list[int]:
        """The decision's rows, held. Raises DatabaseUnavailable (nothing changed: the reviewer retries)."""
        rows: list[int] = []
        try:
            for letter in letters:
                rows.append(self.outbox.enqueue_message(letter.payload(app.id, nonce), kind=letter.kind,
                                                        account_id=app.id, hold_s=HOLD_S))
        except Exception:
            self._discard(rows)
            raise
        return rows

    def _discard(self, rows: list[int]) -> None:
        try:
            self.outbox.discard(rows)
        except Exception:  # held rows whose nonce the record never holds are deleted when they fall due
            log.exception("no se pudieron descartar los correos retenidos de una decisión no aplicada")

    def _begin(self, app: Application, reviewer: Reviewer, decision: str, letters: list[Letter], summary: dict):
        """Queues the held rows, then creates the decision row of this round. Returns the row, or an
        Outcome when another request of this round got there first."""
        nonce = secrets.token_hex(16)
        rows = self._queue(app, nonce, letters)
        ronda = round_id(app)
        # The documents' hashes are the ones the reviewer saw (the guard checked their digest): the audit
        # event, perhaps written later, names them, not what a correction may have replaced since.
        record = {"decision": decision, "ronda": ronda, "solicitud": app.id, "revisor_id": reviewer.id,
                  "revisor": reviewer.username, "intento": nonce, "correos": rows, "fecha_envio": app.submitted_at,
                  "documentos_sha256": {k: v.sha256 for k, v in app.documents.items()}, **summary}
        try:
            row = self.records.create(app.id, ronda, decision, record)
            if row is not None:
                return row
            # Another request of this round got there first: a double click, or a crash left it.
            row = self.records.take_over_stale(app.id, ronda, decision, record, STALE_DECISION_S)
            if row is not None:
                return row
            existing = self.records.get(app.id, ronda)
            if existing is None:  # its request failed and removed it between our two statements
                raise ReviewRefused("Intente de nuevo.")
        except BaseException:
            self._discard(rows)
            raise
        self._discard(rows)
        if existing.decision == decision:
            return Outcome(decision, already_decided=True)
        raise ReviewRefused("Otra decisión sobre esta solicitud está en curso.")

    def _repeat(self, app: Application, reviewer: Reviewer, decision: str) -> Outcome:
        """The same decision POSTed again after it changed the status. If the first attempt stopped
        before finishing (a crash, an audit write that failed), finish it now — its emails were
        queued before the change and go out on their own; nothing is sent twice."""
        taken = self.records.take_for_completion(app.id, app.decision["ronda"], STALE_DECISION_S,
                                                 STALE_COMPLETION_S)
        if taken is None:  # nothing owed, or another request is completing it
            return Outcome(decision, already_decided=True)
        return self._complete(app, taken, reviewer, repeat=True)

    def complete_owed(self, limit: int = 100) -> int:
        """The background pass: completes the decisions whose completion is owed — `aplicada` with the
        audit event pending, `en_curso` or `completando` past their staleness bound — when the change
        of the application happened (its record holds the row's nonce, or its round is decided).
        Returns how many this process completed; a row another replica took is left to it."""
        done = 0
        for account_id, ronda in self.records.owed(STALE_DECISION_S, STALE_COMPLETION_S, limit):
            try:
                done += self._complete_owed(account_id, ronda)
            except AccountNotFound:  # deleted meanwhile: its decision rows went with it
                continue
            except Exception:  # the next pass tries again
                log.exception("decisión pendiente no completada (solicitud %s)", account_id)
        return done

    def _complete_owed(self, account_id: str, ronda: str) -> int:
        row = self.records.get(account_id, ronda)
        if row is None:
            return 0
        app = self._application(account_id)
        if row.state == EN_CURSO and not (app.decision.get("intento") == row.record.get("intento")
                                          or app.decision.get("ronda") == ronda):
            return 0  # its change never happened: the reviewer's next attempt takes the row over
        taken = self.records.take_for_completion(account_id, ronda, STALE_DECISION_S, STALE_COMPLETION_S)
        if taken is None:  # another replica (or the repeated POST) is completing it
            return 0
        reviewer = Reviewer(taken.record.get("revisor_id", ""), taken.record.get("revisor", ""))
        self._complete(app, taken, reviewer, repeat=True)
        return 1

    def _change(self, app: Application, row: DecisionRow, change) -> None:
        """Changes the application; if that failed, removes the held rows and the decision row so the
        reviewer's retry starts clean."""
        try:
            change()
        except Exception:
            self._discard(row.record["correos"])
            try:
                self.records.delete(row)
            except Exception:  # the stale row is taken over after STALE_DECISION_S
                log.exception("no se pudo deshacer el registro de una decisión fallida: %s", app.id)
            raise

    def _complete(self, app: Application, row: DecisionRow, reviewer: Reviewer, *, repeat: bool = False) -> Outcome:
        """Releases the emails, writes the audit event (unless written), releases the lease; the
        row ends `aplicada`, with `auditoria: pendiente` when the event could not be written."""
        record = row.record
        decision = row.decision
        try:
            self.outbox.release(record.get("correos", []))
        except Exception:  # held, they fall due after HOLD_S all the same
            log.exception("correos de la decisión %s no liberados; saldrán al vencer la retención (solicitud %s)",
                          decision, app.id)
        audited = record.get("auditoria") == "escrita"
        if not audited:
            try:
                self._audit_decision(app, record, reviewer)
                audited = True
            except Exception:  # the repeated POST or the background pass writes it
                log.exception("decisión %s sin evento de auditoría (solicitud %s)", decision, app.id)
        if not repeat:
            try:
                self.leases.release(app.id, reviewer)
            except Exception:  # the lease expires on its own
                log.exception("reserva no liberada tras la decisión (solicitud %s)", app.id)
        if not self.records.finish(row, {**record, "auditoria": "escrita" if audited else "pendiente"}):
            log.warning("registro de decisión modificado en paralelo: %s", app.id)
        return Outcome(decision)

    def _audit_decision(self, app: Application, record: dict, reviewer: Reviewer) -> None:
        decision = record["decision"]
        details = {"folio": app.folio, "ronda": record["ronda"], "fecha_envio": record.get("fecha_envio", ""),
                   "decision": decision}
        if decision == APROBAR:
            details["credenciales"] = record.get("credenciales", "")
        self.audit.record(AUDIT_ACTION[decision], app.id, actor_id=record.get("revisor_id", reviewer.id),
                          actor_username=record.get("revisor", reviewer.username), status_before=st.EN_REVISION,
                          status_after=STATUS_AFTER[decision], reasons=record.get("motivos") or {},
                          comment=record.get("comentario") or record.get("motivo") or "",
                          documents_sha256=record.get("documentos_sha256")  # rows from before it was kept
                          or {k: v.sha256 for k, v in app.documents.items()}, details=details,
                          once_as=decision_event_id(app.id, record["ronda"]))

    def _revision(self, app: Application, reviewer: Reviewer, record: dict, extra: dict) -> str:
        """The account's `revision`: what the status page and the console show, and the nonce the
        decision's outbox rows are delivered against."""
        decision = record["decision"]
        return _dump_str({"decision": STATUS_AFTER[decision], "accion": decision, "ronda": round_id(app),
                          "fecha": now_iso(), "revisor": reviewer.username, "revisor_id": reviewer.id,
                          "intento": record["intento"], **extra})


def decision_event_id(account_id: str, ronda: str) -> str:
    """The audit event of a round's decision has the decision's own id (its application and round), so a
    second writer — the background pass after a crash between the event and the row's finish — finds it
    written instead of writing it twice."""
    return "decision-" + hashlib.sha256(f"{account_id}\n{ronda}".encode()).hexdigest()[:23]


def _dump_str(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
