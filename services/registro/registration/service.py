"""Registration (SPEC §4-§5): a disabled account, its responsiva and the confirmation email.

A recorded saga over registro's database (kernel/applications.py), so that a failure, or a process
killed at any point, never leaves a person who cannot go on:
  1. the intent — the application row (`creando`: folio, username and first link version decided
     here) and its identifiers (CURP, RFC, country + passport) — is one transaction: a value held by
     a live application → DuplicateApplicant, nothing created. A holder whose Keycloak account is
     gone (deleted in the admin console) or now holds another value is released first, then the
     intent is tried again (`_begin`). Meanwhile the responsiva renders in a worker process;
  2. the disabled account is created with every attribute, the link version included, in its user
     type's group (catalog.group_of), which carries the user-type role: one atomic Keycloak call.
     When Keycloak answers that the username or email is taken (`_create`): an account carrying this
     intent's folio is this registration's own (Keycloak made it, its answer was lost) and is used; a
     dead one — disabled, made by a registration, its application rejected or cancelled — is
     deleted in Keycloak (its application's row stays as history) and the create made once more; any
     other holder → DuplicateApplicant;
  3. the responsiva is stored in S3 (fails → the account is deleted again and the intent cancelled);
  4. the application becomes `activa`, the confirmation email is queued in the outbox and the privacy
     notice's acceptance (kept by the intent) is written to the audit trail, in one transaction; the
     outbox worker sends the email.
A crash between 1 and 4 leaves a `creando` row older than RECONCILE_AFTER_S: the reconciler
(registration/reconcile.py) finishes it when its account exists, and cancels it when not.

Usernames (one documented rule): a Mexican's username is the RFC (an "&", which Keycloak
refuses in usernames, becomes "-", a character no RFC contains); a foreigner's is "EXT"
followed by 8 random characters of Crockford's base-32 alphabet, drawn again when taken.
Keycloak stores usernames in lower case and logs in case-insensitively.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from keycloak_ext import Account, AccountConflict, AccountNotFound, IdentityError
from keycloak_ext.catalog import USER_TYPE_SLUGS, group_path_of

from registro.adapters.identity import IdentityDirectory
from registro.adapters.mail import Attachment
from registro.adapters.pdf import PdfRenderer
from registro.adapters.storage import ObjectStore, StorageUnavailable
from registro.config import Settings
from registro.domain import status
from registro.domain.application import now_iso
from registro.domain.geography import MEXICO
from registro.domain.storage_keys import application_prefix, responsiva_key
from registro.kernel.document_traces import DocumentTraces, erase_documents
from registro.kernel.emails import compose
from registro.kernel.links import new_version
from registro.kernel.applications import ApplicationStore, FolioTaken, Holder, IdentifiersTaken, Intent, identifiers_of
from registro.kernel.records import KEPT_IN_KEYCLOAK
from registro.platform.db import DatabaseUnavailable
from registro.platform.db.schema import ACTIVA, CANCELADA, CREANDO, RECHAZADA
from registro.platform.outbox import Outbox
from registro.kernel.confirmation_links import issue_link, link_for
from registro.kernel.status_links import status_url
from registro.platform.process_pool import settle
from registro.applicant.privacy import acceptance_event
from registro.kernel.audit import AuditEvent
from registro.registration.responsiva import PDF, attachment_name, responsiva_of, start_render
from registro.registration.responsiva_context import responsiva_context
from registro.registration.responsiva_qr import mac_key

log = logging.getLogger(__name__)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread on a printed folio
FOREIGN_USERNAME_PREFIX = "EXT"
_MAX_DRAWS = 5
# A `creando` intent younger than this is a registration in flight; older, the reconciler takes it.
RECONCILE_AFTER_S = 45.0

# An applicant may ask for a fresh link while the link still has something to do.
RESENDABLE = frozenset({status.PENDIENTE_CORREO, status.PENDIENTE_DOCUMENTOS, status.REQUIERE_CORRECCION})


@dataclass(frozen=True)
class Applicant:
    """Validated, normalized values of the registration form."""
    tipo_usuario: str
    es_extranjero: bool
    curp: str
    rfc: str
    tax_id: str
    pasaporte: str
    nombre: str
    apellidos: str
    email: str
    pais: str
    estado: str
    localidad: str
    colonia: str
    codigo_postal: str
    numero_exterior: str
    calle: str
    rfc_digito_no_coincide: bool = False
    cp_no_coincide: str = ""  # why the catalog disagrees with the confirmed CP (registration/postal_check.py)
    idioma: str = ""  # the language the applicant registered in: Keycloak's `locale`, used for every email
    aviso_version: str = ""  # the privacy notice accepted (applicant/privacy.py)
    aviso_sha256: str = ""

    def __post_init__(self) -> None:
        if self.tipo_usuario not in USER_TYPE_SLUGS:
            raise ValueError("tipo de usuario desconocido")

    def attributes(self, *, folio: str, fecha_registro: str) -> dict[str, str]:
        attrs = {
            "tipo_usuario": self.tipo_usuario,
            "es_extranjero": "true" if self.es_extranjero else "false",
            "curp": self.curp,
            "rfc": self.rfc,
            "tax_id": self.tax_id,
            "pasaporte": self.pasaporte,
            "pais": self.pais if self.es_extranjero else MEXICO,
            "estado": self.estado,
            "localidad": self.localidad,
            "colonia": self.colonia,
            "codigo_postal": self.codigo_postal,
            "numero_exterior": self.numero_exterior,
            "calle": self.calle,
            "estatus": status.PENDIENTE_CORREO,
            "folio": folio,
            "fecha_registro": fecha_registro,
        }
        if self.rfc_digito_no_coincide:
            attrs["rfc_digito_no_coincide"] = "true"
        if self.cp_no_coincide:
            attrs["cp_no_coincide"] = self.cp_no_coincide
        if self.idioma:
            attrs["locale"] = self.idioma
        return {k: v for k, v in attrs.items() if v}


class DuplicateApplicant(Exception):
    """Someone already has an account with this value; `fields` names the form fields concerned.
    The message shown never says whose account it is. `in_flight`: the holder is a registration
    still being made (perhaps this person's own, interrupted): trying again in two minutes may pass."""

    def __init__(self, fields: list[str], *, in_flight: bool = False) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields
        self.in_flight = in_flight


class RegistrationInterrupted(Exception):
    """The intent was taken over by the reconciler while Keycloak answered slowly; nothing remains."""


class ResendNotAllowed(Exception):
    """The application no longer waits for its link (under review, decided, or gone)."""


@dataclass(frozen=True)
class Registered:
    account_id: str
    folio: str


def username_for_rfc(rfc: str) -> str:
    return rfc.replace("&", "-")


def random_code(length: int = 8) -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(length))


def new_folio() -> str:
    """"AU-<year>-" + 8 Crockford characters (32⁸ ≈ 10¹²), made unique by its own claim."""
    return f"AU-{datetime.now(timezone.utc).year}-{random_code()}"


class _UsernameTaken(Exception):
    """A foreigner's random username was taken: draw another one."""


def register(applicant: Applicant, *, identity: IdentityDirectory, storage: ObjectStore, settings: Settings,
             applications: ApplicationStore, outbox: Outbox, renderer: PdfRenderer | None = None,
             traces: DocumentTraces = DocumentTraces()) -> Registered:
    ids = identifiers_of(applicant.attributes(folio="", fecha_registro=""))
    for _ in range(_MAX_DRAWS):
        username = username_for_rfc(applicant.rfc) if not applicant.es_extranjero else FOREIGN_USERNAME_PREFIX + random_code()
        folio = new_folio()
        link_version = new_version()
        attributes = applicant.attributes(folio=folio, fecha_registro=now_iso())
        intent = Intent.new(folio=folio, username=username, link_version=link_version,
                            es_extranjero=applicant.es_extranjero, locale=applicant.idioma,
                            email=applicant.email.lower(), first_name=applicant.nombre, last_name=applicant.apellidos,
                            attributes={**attributes, "enlace_version": link_version},
                            acceptance=accepted_notice(applicant))
        # The responsiva renders (CPU) while the intent is recorded (I/O): its latency is hidden.
        pdf_job = start_render(responsiva_context(first_name=applicant.nombre, last_name=applicant.apellidos,
                                                  email=applicant.email, attributes=attributes), renderer,
                               mac_key=mac_key(settings))
        try:
            _begin(applications, identity, intent, ids, _Leftovers(storage, traces))
        except FolioTaken:
            settle(pdf_job)
            continue
        except BaseException:
            settle(pdf_job)
            raise
        try:
            pdf = pdf_job.result()  # PdfUnavailable: the intent is cancelled, nothing created
            account_id = _create(identity, applications, storage, applicant, intent, attributes, pdf)
        except _UsernameTaken:
            _cancel_quietly(applications, intent, "usuario ocupado")
            continue
        except _HalfCreated as exc:
            raise exc.error from None  # the account is left: the reconciler finishes the intent
        except BaseException:
            _cancel_quietly(applications, intent, "registro fallido antes de crear la cuenta")
            raise
        break
    else:
        raise RuntimeError("no se pudo generar un usuario único")
    email = _confirmation_email(settings, link_for(settings, account_id, intent.link_version), account_id,
                                applicant.email, f"{applicant.nombre} {applicant.apellidos}", folio, pdf,
                                locale=applicant.idioma)
    try:
        completed = applications.complete(intent.id, account_id, email, events=acceptance_events(intent, account_id))
    except DatabaseUnavailable:
        # As a failure of the create's own steps: the account and its responsiva go again and the intent
        # is cancelled. When the database cannot delete the account either, it stays for the reconciler,
        # which finishes the registration once the database answers.
        if _roll_back(identity, storage, account_id, folio):
            _cancel_quietly(applications, intent, "registro fallido al completarse")
        raise
    if not completed:
        if applications.state_of_account(account_id) == ACTIVA:
            # The reconciler found this account while Keycloak was slow and completed the registration
            # itself (its confirmation email is queued): it succeeded, nothing to undo.
            log.info("registro completado por la conciliación: cuenta %s, folio %s", account_id, folio)
            return Registered(account_id=account_id, folio=folio)
        # The reconciler cancelled the intent while Keycloak was slow: undo the account too.
        _roll_back(identity, storage, account_id, folio)
        raise RegistrationInterrupted()
    outbox.notify()
    log.info("registro creado: cuenta %s, folio %s", account_id, folio)
    return Registered(account_id=account_id, folio=folio)


def accepted_notice(applicant: Applicant) -> dict[str, str]:
    """What the intent keeps of the privacy notice accepted in the form (empty when none was)."""
    if not applicant.aviso_version:
        return {}
    return {"aviso_version": applicant.aviso_version, "aviso_sha256": applicant.aviso_sha256,
            "idioma": applicant.idioma or "es"}


def acceptance_events(intent: Intent, account_id: str) -> list[AuditEvent]:
    """The acceptance the intent keeps, as the audit event of the transaction that completes it (this
    registration's, or the reconciler's when it was interrupted)."""
    notice = intent.acceptance
    if not notice.get("aviso_version"):
        return []
    return [acceptance_event(account_id, notice["aviso_version"], notice.get("aviso_sha256", ""),
                             lang=notice.get("idioma") or "es", folio=intent.folio)]


@dataclass(frozen=True)
class _Leftovers:
    """Where an application whose account was deleted in Keycloak's console left its documents."""
    storage: ObjectStore
    traces: DocumentTraces


def _begin(applications: ApplicationStore, identity: IdentityDirectory, intent: Intent, ids: dict[str, str],
           leftovers: _Leftovers) -> None:
    """Records the intent; a holder that no longer holds (its account deleted in Keycloak's console,
    or changed to another value) is released once and the intent tried again."""
    for attempt in (1, 2):
        try:
            applications.begin(intent, ids)
            return
        except IdentifiersTaken as exc:
            live = [h for h in exc.holders if not _released_if_stale(applications, identity, h, ids, leftovers)]
            if live or attempt == 2:
                holders = live or exc.holders
                raise DuplicateApplicant(sorted({h.kind for h in holders}),
                                         in_flight=all(h.state == CREANDO for h in holders)) from None


def _released_if_stale(applications: ApplicationStore, identity: IdentityDirectory, holder: Holder,
                       ids: dict[str, str], leftovers: _Leftovers) -> bool:
    """True when `holder` no longer holds its value and was released. An intent in flight is never
    stale here (the reconciler decides about old ones); an active application is stale when Keycloak
    no longer has its account (deleted by an operator: the application is cancelled) or the account
    now holds another value (changed by an operator: that identifier alone is released)."""
    if holder.state != ACTIVA or not holder.account_id:
        return False
    try:
        # Keycloak itself, not the application's record: the question is whether the account exists.
        account = _keycloak(identity).get_account(holder.account_id)
    except AccountNotFound:
        log.warning("cuenta %s eliminada fuera de registro; su solicitud se cancela y sus documentos se borran",
                    holder.account_id)
        _forget_deleted(identity, leftovers, holder.account_id)
        return True
    if holder.kind in KEPT_IN_KEYCLOAK and identifiers_of(account.attributes).get(holder.kind) != ids.get(holder.kind):
        applications.release(holder.application_id, holder.kind)
        return True
    return False


def _forget_deleted(identity: IdentityDirectory, leftovers: _Leftovers, account_id: str) -> None:
    """What the purge takes of an application, for one whose account an operator deleted in Keycloak's
    console: nothing else would (the purge and the retention periods look for live applications). Its
    objects and the rows describing them first — S3 failing, the holder stays and the next attempt does it
    all —, then the identity port's delete (kernel/records.RecordedIdentity: its personal data and
    undelivered emails, its application cancelled and identifiers released; Keycloak's answer that the
    account is gone is no error)."""
    storage = leftovers.storage
    erase_documents(storage, account_id, storage.list_keys(application_prefix(account_id)), leftovers.traces)
    identity.delete_account(account_id)


def _cancel_quietly(applications: ApplicationStore, intent: Intent, reason: str) -> None:
    try:
        applications.cancel(intent.id, reason)
    except Exception as exc:  # noqa: BLE001 — the reconciler cancels it when this cannot
        log.warning("no se pudo cancelar la solicitud %s (%s); la conciliación lo hará", intent.id, type(exc).__name__)


class _HalfCreated(Exception):
    """The rollback could not delete the account: `error` is what failed first."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def _create(identity: IdentityDirectory, applications: ApplicationStore, storage: ObjectStore, applicant: Applicant,
            intent: Intent, attributes: dict[str, str], pdf: bytes) -> str:
    attributes = {**attributes, "enlace_version": intent.link_version}  # the first link's version: no extra round trip
    for attempt in (1, 2):
        try:
            # The intent row is the application already (`recorded`): only the account is made.
            account_id = identity.create_account(username=intent.username, email=applicant.email,
                                                 first_name=applicant.nombre, last_name=applicant.apellidos,
                                                 attributes=attributes, enabled=False,
                                                 groups=(group_path_of(applicant.tipo_usuario),), recorded=True)
            break
        except AccountConflict:
            # Keycloak's unique username (a Mexican's RFC) or email: another account holds it.
            holders = _held_in_keycloak(identity, applicant, intent.username)
            own = next((a for a in holders.values() if a.attr("folio") == intent.folio), None)
            if own is not None:
                # This registration's own account: Keycloak made it but its answer was lost (a timeout,
                # or a retried POST answered 409).
                log.warning("registro: la cuenta %s ya existía para este folio (respuesta perdida)", own.id)
                account_id = own.id
                break
            dead = {a.id for a in holders.values() if _dead(applications, a)}
            if attempt == 1 and dead and dead == {a.id for a in holders.values()}:  # else refused: nothing to free
                for dead_id in sorted(dead):
                    # Only Keycloak's account: the application's row stays as history (status page,
                    # earlier rejections), and its identifiers were released already.
                    log.warning("registro: se elimina la cuenta %s de una solicitud terminada que ocupaba "
                                "el usuario o el correo", dead_id)
                    # Its undelivered emails first (a retry finds the account still dead), then the account.
                    applications.cancel_account(dead_id, "cuenta de una solicitud terminada, eliminada para un "
                                                         "nuevo registro")
                    _keycloak(identity).delete_account(dead_id)
                continue
            # A foreigner's username is drawn, not typed: its holder is no RFC of theirs to name.
            taken = [f for f in ("rfc", "email") if f in holders and not (f == "rfc" and applicant.es_extranjero)]
            if "email" in taken or not applicant.es_extranjero:
                raise DuplicateApplicant(taken or ["rfc"]) from None
            raise _UsernameTaken() from None
    try:
        storage.put(responsiva_key(account_id, intent.folio), pdf, content_type=PDF, metadata={"folio": intent.folio})
    except StorageUnavailable as exc:  # the account exists: nothing after it talks to Keycloak
        if not _roll_back(identity, storage, account_id, intent.folio):
            raise _HalfCreated(exc) from exc
        raise
    return account_id


def _held_in_keycloak(identity: IdentityDirectory, applicant: Applicant, username: str) -> dict[str, Account]:
    """The accounts holding the values Keycloak keeps unique, by form field: "rfc" for the username (a
    Mexican's RFC; a foreigner's drawn username too), "email". Two exact, indexed lookups, made only
    after a conflict. Keycloak's own accounts, not the applications' records: an account carries
    the folio of the registration that made it."""
    keycloak = _keycloak(identity)
    holders = {}
    by_username = keycloak.find_by_username(username.lower())
    if by_username is not None:
        holders["rfc"] = by_username
    by_email = keycloak.find_by_email(applicant.email)
    if by_email is not None:
        holders["email"] = by_email
    return holders


def _keycloak(identity: IdentityDirectory) -> IdentityDirectory:
    """Keycloak's own accounts behind the identity port (kernel/records.RecordedIdentity overlays the
    applications' records on them): what exists in Keycloak, whatever the database says."""
    return getattr(identity, "keycloak", identity)


def _dead(applications: ApplicationStore, account: Account) -> bool:
    """An account nobody can use any more, which may make room for a new registration: disabled, made
    by a registration (it carries a folio: never a reviewer's or staff account), and its application
    (found by the account, else by the folio: a lost answer's intent) rejected or cancelled. An enabled
    account, one whose application is live (`creando`, `activa`), or one no application names — an
    application made before the database that the backfill has not recorded yet is disabled too until
    approved —, never."""
    folio = account.attr("folio")
    if account.enabled or not folio:
        return False
    return applications.state_of_account(account.id, folio) in (RECHAZADA, CANCELADA)


def _roll_back(identity: IdentityDirectory, storage: ObjectStore, account_id: str, folio: str) -> bool:
    """False when the account could not be deleted (the purge will)."""
    try:
        storage.delete(responsiva_key(account_id, folio))
    except StorageUnavailable:
        pass  # nothing was stored, or the purge removes the application's prefix
    try:
        identity.delete_account(account_id)
    except (IdentityError, DatabaseUnavailable):
        log.error("no se pudo borrar la cuenta incompleta %s; la conciliación la completará", account_id)
        return False
    return True


def _confirmation_email(settings: Settings, link: str, account_id: str, email: str, name: str, folio: str,
                        pdf: bytes, *, locale: str = ""):
    return compose("confirmacion", email, {
        "nombre": name, "enlace": link, "folio": folio,
        "vigencia_dias": max(1, settings.link_ttl_s // 86400),
    }, [Attachment(attachment_name(folio), PDF, pdf)], locale=locale, consulta=status_url(settings, account_id))


def send_new_link(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, account_id: str, *,
                  outbox: Outbox, renderer: PdfRenderer | None = None) -> None:
    """A fresh confirmation email: the responsiva (rendered again if its object is missing), a new
    link that supersedes every earlier one (rotated under the application's edit lock), queued in the
    outbox. Raises StorageUnavailable, IdentityError (AccountNotFound when the account is gone),
    DatabaseUnavailable or PdfUnavailable. Needs an app context (templates)."""
    _send_new_link(identity, storage, settings, identity.get_account(account_id), renderer, outbox)


def resend(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, account_id: str, *,
           outbox: Outbox, renderer: PdfRenderer | None = None) -> None:
    """What "Reenviar correo" does: only while the application still needs its link."""
    account = identity.get_account(account_id)
    if account.attr("estatus") not in RESENDABLE:
        raise ResendNotAllowed(account.attr("estatus"))
    _send_new_link(identity, storage, settings, account, renderer, outbox)


def _send_new_link(identity: IdentityDirectory, storage: ObjectStore, settings: Settings, account: Account,
                   renderer: PdfRenderer | None, outbox: Outbox) -> None:
    pdf = responsiva_of(account, storage, renderer, mac_key=mac_key(settings))
    link = issue_link(identity, settings, account.id)
    outbox.enqueue(confirmation_email(settings, link, account, pdf), kind="confirmacion")


def confirmation_email(settings: Settings, link: str, account: Account, pdf: bytes):
    """The confirmation email of an existing account (resend, and the reconciler finishing an intent)."""
    return _confirmation_email(settings, link, account.id, account.email,
                               f"{account.first_name} {account.last_name}".strip(), account.attr("folio"), pdf,
                               locale=account.attr("locale"))
