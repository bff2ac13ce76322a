"""The review console's business rules (SPEC §7): queue, detail, decisions and their emails.

Ordering of every decision, so a failure halfway leaves a state a retry completes:
  1. guards: the reviewer holds the lease, the application is `en_revision` in the round the
     reviewer looked at (its `fecha_envio`), with the documents the reviewer saw;
  2. the decision record of that round is created in S3 with a conditional create: of two
     identical POSTs (a double click) exactly one gets past this point, the other reports
     "already decided" and sends nothing. A record left `en_curso` by a crash is taken over
     (compare-and-swap) after STALE_DECISION_S if the application is still `en_revision`;
  3. Keycloak is changed (credentials, enabled, estatus, revision);
  4. the audit event is appended;
  5. the email is sent. If SMTP fails, the state stays decided, the record says `fallido`, a
     marker under `revision/correos-pendientes/` makes the console list it, and a resend
     (a temporary password is replaced by a new one) completes it.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from keycloak_ext import Account, IdentityError
from keycloak_ext.catalog import USER_TYPE_LABELS
from keycloak_ext.passwords import temporary_password

from .. import emails
from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer, MailUnavailable
from ..adapters.storage import ObjectMissing, ObjectStore
from ..config import Settings
from ..domain import status as st
from ..domain.application import Application, now_iso
from ..domain.checks import Check, ResponsivaFacts, run_checks
from ..domain.documents import CORRECTION_REASONS, DOCUMENT_LABELS, RESPONSIVA
from ..domain.storage_keys import (FAILED_EMAILS_PREFIX, LEASES_PREFIX, decision_key, failed_email_key,
                                   responsiva_key)
from . import audit as audit_actions
from .audit import AuditEvent, AuditTrail
from .claims import Claims
from .confirmation_links import issue_link
from .leases import Lease, Leases, LeaseNotHeld, Reviewer

log = logging.getLogger(__name__)

APROBAR, CORREGIR, RECHAZAR = "aprobar", "corregir", "rechazar"
STALE_DECISION_S = 120
PAGE_SIZE = 25
_JSON = "application/json"


# --- queue ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueItem:
    account_id: str
    folio: str
    full_name: str
    tipo_usuario: str
    es_extranjero: bool
    submitted_at: str

    @property
    def tipo_label(self) -> str:
        return USER_TYPE_LABELS.get(self.tipo_usuario, self.tipo_usuario or "—")


@dataclass(frozen=True)
class QueueFilters:
    tipo: str = ""
    extranjero: str = ""  # "si" | "no" | ""
    reserva: str = ""  # "reservadas" | "libres" | ""
    page: int = 1


@dataclass
class QueuePage:
    rows: list[tuple[QueueItem, Lease | None]]
    total_pending: int
    matching: int
    page: int
    pages: int
    by_tipo: dict[str, int]
    by_extranjero: dict[str, int]
    claimed: int
    failed_emails: list[str] = field(default_factory=list)


class PendingCache:
    """The sorted list of pending applications, kept per process and refreshed in the background.

    Keycloak cannot sort or filter by an attribute cheaply, so the whole `en_revision` set is
    read (paged `q=estatus:en_revision`) and sorted here; with 2,000 pending that read takes
    seconds (see benchmarks/bench_queue.py). So only the very first page waits for it: after
    `ttl_s` a page is served from the previous list while one background thread reloads it
    (stale-while-revalidate). Staleness is harmless: claims and decisions re-read the account,
    and a decision made in this process removes its application from the list at once."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._items: list[QueueItem] | None = None
        self._at = 0.0
        self._refreshing = False

    def get(self, load) -> list[QueueItem]:
        if self.ttl_s <= 0:  # caching off: every page reads Keycloak
            return load()
        with self._lock:
            items, fresh = self._items, time.monotonic() - self._at < self.ttl_s
            start_refresh = items is not None and not fresh and not self._refreshing
            if start_refresh:
                self._refreshing = True
        if items is not None and fresh:
            return items
        if start_refresh:
            threading.Thread(target=self._refresh, args=(load,), daemon=True, name="cola-revision").start()
            return items
        if items is not None:  # a refresh is already running
            return items
        return self._store(load())

    def _refresh(self, load) -> None:
        try:
            self._store(load())
        except Exception:  # the next page load tries again; the old list stays meanwhile
            log.exception("no se pudo recargar la cola de revisión")
        finally:
            with self._lock:
                self._refreshing = False

    def _store(self, items: list[QueueItem]) -> list[QueueItem]:
        with self._lock:
            self._items, self._at = items, time.monotonic()
        return items

    def discard(self, account_id: str) -> None:
        with self._lock:
            if self._items is not None:
                self._items = [i for i in self._items if i.account_id != account_id]

    def invalidate(self) -> None:
        with self._lock:
            self._items = None


def _queue_item(account: Account) -> QueueItem:
    app = Application(account)
    return QueueItem(account_id=account.id, folio=app.folio, full_name=app.full_name, tipo_usuario=app.tipo_usuario,
                     es_extranjero=app.es_extranjero, submitted_at=app.submitted_at or now_iso())


def load_pending(identity: IdentityDirectory) -> list[QueueItem]:
    items = [_queue_item(a) for a in identity.iter_by_attribute("estatus", st.EN_REVISION, page_size=500)]
    return sorted(items, key=lambda i: (i.submitted_at, i.account_id))


# --- decisions --------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class Detail:
    app: Application
    checks: list[Check]
    lease: Lease | None
    history: list[AuditEvent]
    decision_record: dict[str, Any] | None
    documents_digest: str


def round_id(app: Application) -> str:
    """Identifies one submission to review: the account, its `fecha_envio` and the round decided
    before it (chained, so a resubmission within the same second still makes a new round, and
    with it a new decision record)."""
    previous = app.decision.get("ronda", "")
    return hashlib.sha256(f"{app.id}|{app.submitted_at}|{previous}".encode()).hexdigest()[:24]


def documents_digest(app: Application) -> str:
    seen = "|".join(f"{k}:{v.sha256}" for k, v in sorted(app.documents.items()))
    return hashlib.sha256(seen.encode()).hexdigest()


def login_url(settings: Settings) -> str:
    return f"{settings.keycloak_public_url}/realms/{settings.keycloak.realm}/account"


class ReviewService:
    def __init__(self, identity: IdentityDirectory, store: ObjectStore, mailer: Mailer, settings: Settings,
                 cache: PendingCache | None = None) -> None:
        self.identity = identity
        self.store = store
        self.mailer = mailer
        self.settings = settings
        self.cache = cache or PendingCache(0)
        self.leases = Leases(store, settings.claim_lease_s)
        self.audit = AuditTrail(store)

    # --- reading ------------------------------------------------------------------------------
    def queue(self, filters: QueueFilters) -> QueuePage:
        pending = self.cache.get(lambda: load_pending(self.identity))
        pending_ids = {i.account_id for i in pending}
        leases = self._active_leases(pending_ids)
        by_tipo: dict[str, int] = {}
        by_extranjero = {"si": 0, "no": 0}
        for item in pending:
            by_tipo[item.tipo_usuario] = by_tipo.get(item.tipo_usuario, 0) + 1
            by_extranjero["si" if item.es_extranjero else "no"] += 1
        matching = [i for i in pending
                    if (not filters.tipo or i.tipo_usuario == filters.tipo)
                    and (not filters.extranjero or i.es_extranjero == (filters.extranjero == "si"))
                    and (not filters.reserva or (i.account_id in leases) == (filters.reserva == "reservadas"))]
        pages = max(1, -(-len(matching) // PAGE_SIZE))
        page = min(max(1, filters.page), pages)
        window = matching[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        return QueuePage(rows=[(i, leases.get(i.account_id)) for i in window], total_pending=len(pending),
                         matching=len(matching), page=page, pages=pages, by_tipo=by_tipo,
                         by_extranjero=by_extranjero, claimed=len(leases), failed_emails=self.failed_emails())

    def _active_leases(self, pending_ids: set[str]) -> dict[str, Lease]:
        """One LIST of the lease prefix, then a GET per lease of a pending application (few: one or
        two per reviewer at work), in parallel."""
        ids = [k[len(LEASES_PREFIX):-len(".json")] for k in self.store.list_keys(LEASES_PREFIX)]
        ids = [i for i in ids if i in pending_ids]
        if not ids:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:
            found = list(pool.map(self.leases.active, ids))
        return {i: lease for i, lease in zip(ids, found) if lease is not None}

    def failed_emails(self) -> list[str]:
        return [k[len(FAILED_EMAILS_PREFIX):-len(".json")] for k in self.store.list_keys(FAILED_EMAILS_PREFIX)]

    def application(self, account_id: str) -> Application:
        return Application(self.identity.get_account(account_id))

    def detail(self, account_id: str) -> Detail:
        app = self.application(account_id)
        checks = run_checks(app, self._responsiva_facts(app), date.today())
        record = self._decision_record(app)
        return Detail(app=app, checks=checks, lease=self.leases.active(account_id),
                      history=self.audit.history(account_id), decision_record=record,
                      documents_digest=documents_digest(app))

    def _responsiva_facts(self, app: Application) -> ResponsivaFacts:
        exists = False
        if app.folio:
            try:
                self.store.head(responsiva_key(app.id, app.folio))
                exists = True
            except ObjectMissing:
                exists = False
        text = None
        signed = app.documents.get(RESPONSIVA)
        if signed and signed.content_type == "application/pdf":
            text = _pdf_text(self.store.get(signed.key))
        return ResponsivaFacts(generated_exists=exists, signed_text=text)

    def _decision_record(self, app: Application) -> dict[str, Any] | None:
        decision = app.decision
        if not decision.get("ronda"):
            return None
        try:
            return json.loads(self.store.get(decision_key(app.id, decision["ronda"])))
        except ObjectMissing:
            return None

    # --- claims -------------------------------------------------------------------------------
    def claim(self, account_id: str, reviewer: Reviewer) -> Lease:
        app = self.application(account_id)
        if app.status != st.EN_REVISION:
            raise ReviewRefused("La solicitud ya no está en revisión.")
        lease = self.leases.claim(account_id, reviewer)  # raises LeaseHeld
        self.audit.record(audit_actions.CLAIM, account_id, actor_id=reviewer.id, actor_username=reviewer.username,
                          status_before=app.status, status_after=app.status,
                          details={"vence": datetime.fromtimestamp(lease.expires_at, timezone.utc).isoformat()})
        return lease

    def release(self, account_id: str, reviewer: Reviewer) -> bool:
        released = self.leases.release(account_id, reviewer)
        if released:
            app = self.application(account_id)
            self.audit.record(audit_actions.RELEASE, account_id, actor_id=reviewer.id,
                              actor_username=reviewer.username, status_before=app.status, status_after=app.status)
        return released

    # --- decisions ----------------------------------------------------------------------------
    def approve(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str) -> Outcome:
        app, record, etag = self._begin(account_id, reviewer, APROBAR, round_seen, digest_seen, {})
        if record is None:
            return Outcome(APROBAR, already_decided=True)
        mode = self.settings.credentials_mode
        password = None
        if mode == "temporal":
            password = temporary_password(app.account.username, app.account.email)
            self.identity.set_temporary_password(app.id, password)
        revision = self._revision(app, reviewer, "aprobado", {"credenciales": mode})
        self.identity.update_account(app.id, enabled=True, attributes={"estatus": st.APROBADO, "revision": revision,
                                                                         "motivos_correccion": None})
        if app.tipo_usuario and app.tipo_usuario not in self.identity.realm_roles_of(app.id):
            self.identity.assign_realm_role(app.id, app.tipo_usuario)
        self._after_decision(app, reviewer, audit_actions.APPROVE, st.APROBADO, details={"credenciales": mode})
        sent = self._send_approval(app, password)
        del password
        self._finish(app, record, etag, sent)
        return Outcome(APROBAR, email_sent=sent)

    def request_correction(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
                           reasons: dict[str, list[str]], comment: str) -> Outcome:
        reasons = {k: [r for r in v if r in CORRECTION_REASONS] for k, v in reasons.items() if v}
        if not reasons:
            raise ReviewRefused("Indique al menos un motivo de corrección para algún documento.", 400)
        app, record, etag = self._begin(account_id, reviewer, CORREGIR, round_seen, digest_seen,
                                        {"motivos": reasons, "comentario": comment})
        if record is None:
            return Outcome(CORREGIR, already_decided=True)
        motivos = json.dumps({"documentos": reasons, "comentario": comment, "fecha": now_iso()},
                             ensure_ascii=False, separators=(",", ":"))
        revision = self._revision(app, reviewer, "requiere_correccion", {"motivos": reasons, "comentario": comment})
        self.identity.update_attributes(app.id, {"estatus": st.REQUIERE_CORRECCION, "motivos_correccion": motivos,
                                                 "revision": revision})
        self._after_decision(app, reviewer, audit_actions.CORRECTION, st.REQUIERE_CORRECCION,
                             reasons=reasons, comment=comment)
        sent = self._send_correction(app, reasons, comment)
        self._finish(app, record, etag, sent)
        return Outcome(CORREGIR, email_sent=sent)

    def reject(self, account_id: str, reviewer: Reviewer, *, round_seen: str, digest_seen: str,
               reason: str) -> Outcome:
        reason = reason.strip()
        if not reason:
            raise ReviewRefused("Indique el motivo del rechazo.", 400)
        app, record, etag = self._begin(account_id, reviewer, RECHAZAR, round_seen, digest_seen, {"motivo": reason})
        if record is None:
            return Outcome(RECHAZAR, already_decided=True)
        revision = self._revision(app, reviewer, "rechazado", {"motivo": reason})
        self.identity.update_account(app.id, enabled=False, attributes={"estatus": st.RECHAZADO, "revision": revision})
        Claims(self.store, self.identity).release_account(app.account)  # SPEC §9: a rejected person may apply again
        self._after_decision(app, reviewer, audit_actions.REJECT, st.RECHAZADO, comment=reason)
        sent = self._send_rejection(app, reason)
        self._finish(app, record, etag, sent)
        return Outcome(RECHAZAR, email_sent=sent)

    def resend(self, account_id: str, reviewer: Reviewer) -> Outcome:
        """Sends a decision email that failed. Of two concurrent resends only one sends (CAS on the
        decision record). For a temporary password, a new one replaces the lost one."""
        app = self.application(account_id)
        ronda = app.decision.get("ronda", "")
        if not ronda:
            raise ReviewRefused("La solicitud no tiene una decisión registrada.")
        key = decision_key(app.id, ronda)
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectMissing:
            raise ReviewRefused("La solicitud no tiene una decisión registrada.") from None
        record = json.loads(data)
        if record.get("correo") != "fallido":
            return Outcome(record.get("decision", ""), already_decided=True)
        record["correo"] = "reenviando"
        if not self.store.replace_if_match(key, _dump(record), etag, content_type=_JSON):
            return Outcome(record.get("decision", ""), already_decided=True)
        _, etag = self.store.get_with_etag(key)
        decision = record["decision"]
        if decision == APROBAR:
            password = None
            if app.decision.get("credenciales", self.settings.credentials_mode) == "temporal":
                password = temporary_password(app.account.username, app.account.email)
                self.identity.set_temporary_password(app.id, password)
            sent = self._send_approval(app, password, mode=app.decision.get("credenciales"))
            del password
        elif decision == CORREGIR:
            sent = self._send_correction(app, app.correction.get("documentos", {}), app.correction.get("comentario", ""))
        else:
            sent = self._send_rejection(app, app.decision.get("motivo", ""))
        self.audit.record(audit_actions.RESEND, app.id, actor_id=reviewer.id, actor_username=reviewer.username,
                          status_before=app.status, status_after=app.status,
                          details={"decision": decision, "correo": "enviado" if sent else "fallido"})
        self._finish(app, record, etag, sent)
        return Outcome(decision, email_sent=sent)

    # --- steps --------------------------------------------------------------------------------
    def _begin(self, account_id: str, reviewer: Reviewer, decision: str, round_seen: str, digest_seen: str,
               summary: dict) -> tuple[Application, dict | None, str]:
        """Guards, then the decision record of this round. Returns (app, None, "") when this very
        decision was already made (a repeated POST)."""
        app = self.application(account_id)
        if app.status != st.EN_REVISION:
            if app.decision.get("ronda") == round_seen and app.decision.get("accion") == decision:
                return app, None, ""
            raise ReviewRefused("La solicitud ya no está en revisión; otra decisión ya se registró.")
        if round_seen != round_id(app) or digest_seen != documents_digest(app):
            raise ReviewRefused("La solicitud cambió desde que la abrió (se envió de nuevo o cambiaron sus "
                                "documentos). Revísela otra vez antes de decidir.")
        try:
            self.leases.require(account_id, reviewer)
        except LeaseNotHeld:
            raise ReviewRefused("Para decidir, primero reserve la solicitud (o su reserva venció).") from None
        key = decision_key(app.id, round_id(app))
        record = {"decision": decision, "ronda": round_id(app), "solicitud": app.id, "revisor_id": reviewer.id,
                  "revisor": reviewer.username, "creado": time.time(), "estado": "en_curso", "correo": "pendiente",
                  **summary}
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
            return app, None, ""
        raise ReviewRefused("Otra decisión sobre esta solicitud está en curso.")

    def _revision(self, app: Application, reviewer: Reviewer, result: str, extra: dict) -> str:
        return _dump_str({"decision": result, "accion": {"aprobado": APROBAR, "requiere_correccion": CORREGIR,
                                                         "rechazado": RECHAZAR}[result],
                          "ronda": round_id(app), "fecha": now_iso(), "revisor": reviewer.username,
                          "revisor_id": reviewer.id, **extra})

    def _after_decision(self, app: Application, reviewer: Reviewer, action: str, status_after: str, *,
                        reasons: dict | None = None, comment: str = "", details: dict | None = None) -> None:
        self.cache.discard(app.id)
        self.audit.record(action, app.id, actor_id=reviewer.id, actor_username=reviewer.username,
                          status_before=app.status, status_after=status_after, reasons=reasons or {},
                          comment=comment, documents_sha256={k: v.sha256 for k, v in app.documents.items()},
                          details={"folio": app.folio, "ronda": round_id(app), **(details or {})})
        self.leases.release(app.id, reviewer)

    def _finish(self, app: Application, record: dict, etag: str, sent: bool) -> None:
        record = {**record, "estado": "aplicada", "correo": "enviado" if sent else "fallido"}
        if not self.store.replace_if_match(decision_key(app.id, record["ronda"]), _dump(record), etag,
                                           content_type=_JSON):
            log.warning("registro de decisión modificado en paralelo: %s", app.id)
        if sent:
            self.store.delete(failed_email_key(app.id))
        else:
            self.store.put(failed_email_key(app.id), _dump({"solicitud": app.id, "decision": record["decision"]}),
                           content_type=_JSON)

    # --- emails -------------------------------------------------------------------------------
    def _deliver(self, name: str, app: Application, context: dict) -> bool:
        message = emails.compose(name, app.account.email, {"nombre": app.account.first_name, **context})
        try:
            self.mailer.send(message)
            return True
        except MailUnavailable:
            log.error("correo %s no enviado (solicitud %s)", name, app.id)
            return False

    def _send_approval(self, app: Application, password: str | None, mode: str | None = None) -> bool:
        mode = mode or self.settings.credentials_mode
        ok = self._deliver("aprobacion", app, {"usuario": app.account.username, "contrasena": password,
                                               "modo": mode, "login_url": login_url(self.settings)})
        if mode == "enlace" and ok:
            try:
                self.identity.send_actions_email(app.id, ["UPDATE_PASSWORD"], lifespan_s=self.settings.link_ttl_s)
            except IdentityError:
                log.error("Keycloak no envió el correo para establecer la contraseña (solicitud %s)", app.id)
                ok = False
        return ok

    def _send_correction(self, app: Application, reasons: dict[str, list[str]], comment: str) -> bool:
        link = issue_link(self.identity, self.settings, app.id, storage=self.store)
        items = [(DOCUMENT_LABELS.get(kind, kind), [CORRECTION_REASONS.get(c, c) for c in codes])
                 for kind, codes in reasons.items()]
        return self._deliver("correccion", app, {"motivos": items, "comentario": comment, "enlace": link})

    def _send_rejection(self, app: Application, reason: str) -> bool:
        return self._deliver("rechazo", app, {"motivo": reason, "folio": app.folio})


def _pdf_text(data: bytes) -> str | None:
    """Text of the first pages of a PDF; None when it has none (a scan) or does not parse."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "".join((page.extract_text() or "") for page in reader.pages[:3])
    except (PdfReadError, ValueError, KeyError, TypeError):
        return None
    return text if text.strip() else None


def _dump(data: dict) -> bytes:
    return _dump_str(data).encode("utf-8")


def _dump_str(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
