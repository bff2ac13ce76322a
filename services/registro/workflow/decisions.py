"""Review decisions (SPEC §7): approve, request a correction, reject, and resend a lost email.

Ordering, so that a failure at any point leaves a state a retry completes and every decision ends
with its email sent or listed for resend:
  1. guards: the reviewer holds the lease, the application is `en_revision` in the round the
     reviewer looked at (its `fecha_envio`), with the documents the reviewer saw;
  2. the decision record of that round is created in S3 with a conditional create: of two
     identical POSTs (a double click) exactly one gets past this point, the other reports
     "already decided" and sends nothing. A record left `en_curso` by a crash before the status
     changed is taken over (compare-and-swap) after STALE_DECISION_S;
  3. the resend marker (`revision/correos-pendientes/`) is written BEFORE the status changes, so
     from the moment Keycloak says "decided" the console lists the email until it has left;
  4. Keycloak is changed (credentials, enabled, estatus, revision); if that fails, the record and
     the marker are removed and the reviewer can simply try again;
  5. the application leaves the queue index (a failure leaves a harmless ghost: queue_index.py);
  6. completion: the audit event, then the email (issuing a correction link is part of it). Any
     failure here marks the record `correo: fallido` (and `auditoria: pendiente` when the event
     was not written) and keeps the marker; a repeated POST or "Reenviar correo" completes it.
A resend takes the record `fallido` → `reenviando` by compare-and-swap (one of two concurrent
resends sends) and always ends `enviado` or `fallido`; a `reenviando` left by a crash is taken
over after STALE_RESEND_S.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer
from ..adapters.storage import ObjectMissing, ObjectStore
from ..config import Settings
from ..domain import status as st
from ..domain.application import Application, now_iso
from ..domain.documents import CORRECTION_REASONS
from ..domain.storage_keys import decision_key, failed_email_key
from . import audit as audit_actions
from .audit import AuditTrail
from .decision_emails import DecisionEmails
from ..kernel.applications import ApplicationStore
from .leases import LeaseNotHeld, Leases, Reviewer
from .queue_index import QueueIndex, QueueIndexUnavailable
from .review_detail import documents_digest, round_id

log = logging.getLogger(__name__)

APROBAR, CORREGIR, RECHAZAR = "aprobar", "corregir", "rechazar"
STATUS_AFTER = {APROBAR: st.APROBADO, CORREGIR: st.REQUIERE_CORRECCION, RECHAZAR: st.RECHAZADO}
AUDIT_ACTION = {APROBAR: audit_actions.APPROVE, CORREGIR: audit_actions.CORRECTION, RECHAZAR: audit_actions.REJECT}
STALE_DECISION_S = 120
STALE_RESEND_S = 120
_JSON = "application/json"


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
    email_sent: bool = True


class Decisions:
    def __init__(self, identity: IdentityDirectory, store: ObjectStore, mailer: Mailer, settings: Settings,
                 leases: Leases, audit: AuditTrail, index: QueueIndex | None,
                 applications: ApplicationStore | None = None) -> None:
        self.identity = identity
        self.applications = applications  # registro's record: a rejection releases the identifiers
        self.store = store
        self.settings = settings
        self.leases = leases
        self.audit = audit
        self.index = index
        self.emails = DecisionEmails(identity, mailer, settings, store)

    def _application(self, account_id: str) -> Application:
        return Application(self.identity.get_account(account_id))

    # --- the three decisions --------------------------------------------------------------------
    def approve(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str) -> Outcome:
        mode = self.settings.credentials_mode
        started = self._begin(account_id, reviewer, APROBAR, round_seen, digest_seen, {"credenciales": mode})
        if isinstance(started, Outcome):
            return started
        app, record, etag = started
        password: str | None = None

        def change() -> None:
            nonlocal password
            if mode == "temporal":
                password = self.emails.new_temporary_password(app)
            revision = self._revision(app, reviewer, "aprobado", {"credenciales": mode})
            self.identity.update_account(app.id, enabled=True, attributes={
                "estatus": st.APROBADO, "revision": revision, "motivos_correccion": None})
            # Effective roles: an account registered into its user type's group already holds the
            # role (no redundant direct mapping); one registered before the groups existed gets it here.
            if app.tipo_usuario and app.tipo_usuario not in self.identity.realm_roles_of(app.id):
                self.identity.assign_realm_role(app.id, app.tipo_usuario)

        self._change(app, record, change)
        outcome = self._complete(app, record, etag, reviewer, send=lambda: self.emails.approval(app, password, mode))
        password = None
        return outcome

    def request_correction(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
                           reasons: dict[str, list[str]], comment: str) -> Outcome:
        reasons = {k: [r for r in v if r in CORRECTION_REASONS] for k, v in reasons.items() if v}
        reasons = {k: v for k, v in reasons.items() if v}
        if not reasons:
            raise ReviewRefused("Indique al menos un motivo de corrección para algún documento.", 400)
        started = self._begin(account_id, reviewer, CORREGIR, round_seen, digest_seen,
                              {"motivos": reasons, "comentario": comment})
        if isinstance(started, Outcome):
            return started
        app, record, etag = started
        motivos = json.dumps({"documentos": reasons, "comentario": comment, "fecha": now_iso()},
                             ensure_ascii=False, separators=(",", ":"))
        revision = self._revision(app, reviewer, "requiere_correccion", {"motivos": reasons, "comentario": comment})
        self._change(app, record, lambda: self.identity.update_attributes(app.id, {
            "estatus": st.REQUIERE_CORRECCION, "motivos_correccion": motivos, "revision": revision}))
        return self._complete(app, record, etag, reviewer, send=lambda: self.emails.correction(app, reasons, comment))

    def reject(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
               reason: str) -> Outcome:
        reason = reason.strip()
        if not reason:
            raise ReviewRefused("Indique el motivo del rechazo.", 400)
        started = self._begin(account_id, reviewer, RECHAZAR, round_seen, digest_seen, {"motivo": reason})
        if isinstance(started, Outcome):
            return started
        app, record, etag = started
        revision = self._revision(app, reviewer, "rechazado", {"motivo": reason})
        self._change(app, record, lambda: self.identity.update_account(
            app.id, enabled=False, attributes={"estatus": st.RECHAZADO, "revision": revision}))
        if self.applications is not None:  # SPEC §9: a rejected person may apply again
            self.applications.reject(app.id, reason)
        return self._complete(app, record, etag, reviewer, send=lambda: self.emails.rejection(app, reason))

    # --- resend ----------------------------------------------------------------------------------
    def resend(self, account_id: str, reviewer: Reviewer) -> Outcome:
        """Sends a decision email that failed (or completes a decision a crash interrupted). Of two
        concurrent resends only one sends. A temporary password is replaced by a new one."""
        app = self._application(account_id)
        ronda = app.decision.get("ronda", "")
        if not ronda:
            self._unlist(account_id)
            raise ReviewRefused("La solicitud no tiene una decisión registrada.")
        key = decision_key(app.id, ronda)
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectMissing:
            raise ReviewRefused("La solicitud no tiene una decisión registrada.") from None
        record = json.loads(data)
        if not _needs_resend(record):
            if record.get("correo") == "enviado":
                self._unlist(account_id)
            return Outcome(record.get("decision", ""), already_decided=True)
        taken = self._take(key, record, etag)
        if taken is None:
            return Outcome(record.get("decision", ""), already_decided=True)
        return self._complete(app, *taken, reviewer, send=self._sender(app, record), resend=True)

    def _sender(self, app: Application, record: dict):
        """What sends this decision's email again (from the record and the account as they are now)."""
        decision = record["decision"]
        if record.get("correo") == "enviado":  # only the audit event was missing: no second email
            return lambda: True
        if decision == APROBAR:
            mode = app.decision.get("credenciales") or record.get("credenciales") or self.settings.credentials_mode
            return lambda: self.emails.approval(app, None, mode)  # a new password replaces the lost one
        if decision == CORREGIR:
            correction = app.correction
            return lambda: self.emails.correction(app, correction.get("documentos") or record.get("motivos", {}),
                                                  correction.get("comentario", record.get("comentario", "")))
        return lambda: self.emails.rejection(app, app.decision.get("motivo") or record.get("motivo", ""))

    # --- steps -----------------------------------------------------------------------------------
    def _begin(self, account_id: str, reviewer: Reviewer, decision: str, round_seen: str, digest_seen: str,
               summary: dict):
        """Guards, then the decision record of this round. Returns an Outcome instead when this very
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
        ronda = round_id(app)
        key = decision_key(app.id, ronda)
        record = {"decision": decision, "ronda": ronda, "solicitud": app.id, "revisor_id": reviewer.id,
                  "revisor": reviewer.username, "creado": time.time(), "estado": "en_curso", "correo": "pendiente",
                  "fecha_envio": app.submitted_at, **summary}
        if self.store.put_if_absent(key, _dump(record), content_type=_JSON):
            return app, record, self.store.get_with_etag(key)[1]
        # Another request of this round got there first: a double click, or a crash left it.
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectMissing:
            raise ReviewRefused("Intente de nuevo.") from None
        existing = json.loads(data)
        if existing.get("estado") == "en_curso" and time.time() - float(existing.get("creado", 0)) > STALE_DECISION_S:
            if self.store.replace_if_match(key, _dump(record), etag, content_type=_JSON):
                return app, record, self.store.get_with_etag(key)[1]
        if existing.get("decision") == decision:
            return Outcome(decision, already_decided=True)
        raise ReviewRefused("Otra decisión sobre esta solicitud está en curso.")

    def _repeat(self, app: Application, reviewer: Reviewer, decision: str) -> Outcome:
        """The same decision POSTed again after it changed the status. If the first attempt stopped
        before finishing (audit or email), finish it now instead of answering "already decided"."""
        key = decision_key(app.id, app.decision["ronda"])
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectMissing:
            return Outcome(decision, already_decided=True)
        record = json.loads(data)
        if not _needs_resend(record):
            return Outcome(decision, already_decided=True)
        taken = self._take(key, record, etag)
        if taken is None:
            return Outcome(decision, already_decided=True)
        return self._complete(app, *taken, reviewer, send=self._sender(app, record))

    def _take(self, key: str, record: dict, etag: str) -> tuple[dict, str] | None:
        """Marks the record `reenviando` by compare-and-swap: the taken record and its new ETag, or
        None when another request changed it first (it is the one finishing the decision)."""
        taken = {**record, "correo": "reenviando", "reenvio_desde": time.time()}
        if not self.store.replace_if_match(key, _dump(taken), etag, content_type=_JSON):
            return None
        return taken, self.store.get_with_etag(key)[1]

    def _change(self, app: Application, record: dict, change) -> None:
        """Lists the email for resend, then changes Keycloak; undoes the listing and the record if
        Keycloak refused, so the reviewer's retry starts clean. Then the application leaves the index."""
        marker = failed_email_key(app.id)
        self.store.put(marker, _dump({"solicitud": app.id, "decision": record["decision"], "ronda": record["ronda"]}),
                       content_type=_JSON)
        try:
            change()
        except Exception:
            for key in (decision_key(app.id, record["ronda"]), marker):
                try:
                    self.store.delete(key)
                except Exception:  # the stale record is taken over after STALE_DECISION_S
                    log.exception("no se pudo deshacer el registro de una decisión fallida: %s", app.id)
            raise
        if self.index is not None:
            try:
                self.index.remove(app.id)
            except QueueIndexUnavailable:
                log.warning("índice de la cola no disponible; queda una entrada de más hasta el reindexado: %s",
                            app.id)

    def _complete(self, app: Application, record: dict, etag: str, reviewer: Reviewer, *, send,
                  resend: bool = False) -> Outcome:
        """Audit event (unless already written), lease released, email; always ends with the record
        `aplicada` and the email `enviado` or `fallido` (then listed for resend)."""
        decision = record["decision"]
        audited = record.get("auditoria") == "escrita"
        sent = False
        if not audited:
            try:
                self._audit_decision(app, record, reviewer)
                audited = True
            except Exception:  # the email still goes; the marker stays until the event is written
                log.exception("decisión %s sin evento de auditoría (solicitud %s)", decision, app.id)
        try:
            if not resend:
                self.leases.release(app.id, reviewer)
        except Exception:  # the lease expires on its own
            log.exception("reserva no liberada tras la decisión (solicitud %s)", app.id)
        try:
            sent = bool(send())
        except Exception:
            log.exception("correo de la decisión %s no enviado (solicitud %s)", decision, app.id)
        if resend:
            try:
                self.audit.record(audit_actions.RESEND, app.id, actor_id=reviewer.id, actor_username=reviewer.username,
                                  status_before=app.status, status_after=app.status,
                                  details={"decision": decision, "correo": "enviado" if sent else "fallido"})
            except Exception:
                log.exception("evento de reenvío no escrito (solicitud %s)", app.id)
        self._finish(app, record, etag, sent=sent, audited=audited)
        return Outcome(decision, email_sent=sent)

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
                          documents_sha256={k: v.sha256 for k, v in app.documents.items()}, details=details)

    def _finish(self, app: Application, record: dict, etag: str, *, sent: bool, audited: bool) -> None:
        done = {k: v for k, v in record.items() if k != "reenvio_desde"}
        done.update(estado="aplicada", correo="enviado" if sent else "fallido",
                    auditoria="escrita" if audited else "pendiente")
        if not self.store.replace_if_match(decision_key(app.id, record["ronda"]), _dump(done), etag,
                                           content_type=_JSON):
            log.warning("registro de decisión modificado en paralelo: %s", app.id)
        if sent and audited:
            self._unlist(app.id)
        # Otherwise the marker written before the status change stays: the console lists it.

    def _unlist(self, account_id: str) -> None:
        self.store.delete(failed_email_key(account_id))

    def _revision(self, app: Application, reviewer: Reviewer, result: str, extra: dict) -> str:
        return _dump_str({"decision": result, "accion": {"aprobado": APROBAR, "requiere_correccion": CORREGIR,
                                                         "rechazado": RECHAZAR}[result],
                          "ronda": round_id(app), "fecha": now_iso(), "revisor": reviewer.username,
                          "revisor_id": reviewer.id, **extra})


def _needs_resend(record: dict) -> bool:
    """Whether this decision still owes its email or its audit event. A decision still `en_curso` is
    only taken over once stale: until then its own request may be finishing it (a double click)."""
    if record.get("correo") == "fallido" or (record.get("estado") == "aplicada" and record.get("auditoria") == "pendiente"):
        return True
    if record.get("correo") == "reenviando":  # a resend that died half-way
        return time.time() - float(record.get("reenvio_desde") or 0) > STALE_RESEND_S
    if record.get("estado") == "en_curso":  # a decision that died after the status change
        return time.time() - float(record.get("creado", 0)) > STALE_DECISION_S
    return False


def _dump(data: dict) -> bytes:
    return _dump_str(data).encode("utf-8")


def _dump_str(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
