"""Registration (SPEC §4-§5): a disabled account, its responsiva and the confirmation email.

The steps are ordered so that a failure never leaves half an application:
  1. every unique identifier Keycloak does not guard itself (CURP, a foreigner's RFC, country +
     passport) and the folio is claimed by a conditional create in S3 (workflow/claims.py): taken →
     DuplicateApplicant, nothing created (a Mexican's RFC is the username and the email is unique in
     the realm: Keycloak refuses their duplicates atomically in step 3, mapped to DuplicateApplicant);
     S3 down → StorageUnavailable, nothing created. No Keycloak search: the cost does not grow with
     the number of accounts, and concurrent registrations of one CURP cannot both pass;
  2. the responsiva is rendered — in a worker thread while the claims of step 1 travel (fails → the
     claims are released, nothing created);
  3. the disabled account is created with every attribute, the link version included, in its user
     type's group (catalog.group_of), which carries the user-type role: account, profile and role
     are one atomic Keycloak call (a refused create leaves nothing; no role-mapping call follows);
  4. the responsiva is stored in S3 (fails → the account is deleted again, then the claims
     released, and the error propagates);
  5. the confirmation email is written to the durable outbox (workflow/outbox.py) and delivered off
     the request path, retried until SMTP takes it (fails to queue → the account stays complete and
     the applicant uses "Reenviar correo", which renders the responsiva again if it went missing).
If the clean-up in step 4 cannot reach Keycloak either, the account is left in `pendiente_correo`
with its claims, and the purge command removes both when unconfirmed applications expire.

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

from keycloak_ext import Account, AccountConflict, IdentityError
from keycloak_ext.catalog import USER_TYPE_SLUGS, group_path_of

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Attachment, Mailer
from ..adapters.pdf import PdfRenderer
from ..adapters.storage import ObjectStore, StorageUnavailable
from ..config import Settings
from ..domain import status
from ..domain.application import now_iso
from ..domain.geography import MEXICO
from ..domain.storage_keys import responsiva_key
from ..emails import compose
from ..links import new_version
from . import claims
from .claims import Claims
from .confirmation_links import issue_link, link_for
from .outbox import Outbox
from .process_pool import settle
from .privacy import record_acceptance
from .responsiva import PDF, attachment_name, responsiva_context, responsiva_of, start_render

log = logging.getLogger(__name__)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: nothing to misread on a printed folio
FOREIGN_USERNAME_PREFIX = "EXT"
_MAX_DRAWS = 5

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
    cp_no_coincide: str = ""  # why the catalog disagrees with the confirmed CP (forms/postal_check.py)
    idioma: str = ""  # the language the applicant registered in: Keycloak's `locale`, used for every email
    aviso_version: str = ""  # the privacy notice accepted (workflow/privacy.py)
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
    The message shown never says whose account it is."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


class ResendNotAllowed(Exception):
    """The application no longer waits for its link (under review, decided, or gone)."""


@dataclass(frozen=True)
class Registered:
    account_id: str
    folio: str
    email_sent: bool


def username_for_rfc(rfc: str) -> str:
    return rfc.replace("&", "-")


def random_code(length: int = 8) -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(length))


def new_folio() -> str:
    """"AU-<year>-" + 8 Crockford characters (32⁸ ≈ 10¹²), made unique by its own claim."""
    return f"AU-{datetime.now(timezone.utc).year}-{random_code()}"


class _UsernameTaken(Exception):
    """A foreigner's random username was taken: draw another one."""


def register(applicant: Applicant, *, identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer,
             settings: Settings, renderer: PdfRenderer | None = None, outbox: Outbox | None = None) -> Registered:
    outbox = outbox or Outbox(storage, mailer, background=False)
    claimed = Claims(storage, identity)
    for _ in range(_MAX_DRAWS):
        username = username_for_rfc(applicant.rfc) if not applicant.es_extranjero else FOREIGN_USERNAME_PREFIX + random_code()
        folio = new_folio()
        attributes = applicant.attributes(folio=folio, fecha_registro=now_iso())
        # The responsiva renders (CPU) while the claims travel (I/O): their latency is hidden.
        pdf_job = start_render(responsiva_context(first_name=applicant.nombre, last_name=applicant.apellidos,
                                                  email=applicant.email, attributes=attributes), renderer)
        try:
            held = claimed.claim_all(claims.identifiers_of(attributes, folio=True), username)
        except claims.Taken as exc:
            settle(pdf_job)
            taken = [f for f in exc.fields if f != claims.FOLIO]
            if taken:
                raise DuplicateApplicant(taken + _held_in_keycloak(identity, applicant, username)) from None
            continue  # only the folio was taken: draw another
        except BaseException:
            settle(pdf_job)
            raise
        try:
            pdf = pdf_job.result()  # PdfUnavailable: nothing created, the claims are released
            account_id, version = _create(identity, storage, applicant, username, folio, attributes, pdf)
        except _UsernameTaken:
            claimed.release(held)
            continue
        except _HalfCreated as exc:
            raise exc.error from None  # the leftover account still owns its claims; the purge releases both
        except BaseException:
            claimed.release(held)
            raise
        break
    else:
        raise RuntimeError("no se pudo generar un usuario único")
    email = _confirmation_email(settings, link_for(settings, account_id, version), account_id, applicant.email,
                                f"{applicant.nombre} {applicant.apellidos}", folio, pdf, locale=applicant.idioma)
    try:
        outbox.enqueue(email)
        sent = True
    except StorageUnavailable as exc:
        # The application is complete; "Reenviar correo" issues the link and sends it later.
        log.warning("registro %s sin correo de confirmación: %s", account_id, type(exc).__name__)
        sent = False
    log.info("registro creado: cuenta %s, folio %s", account_id, folio)
    return Registered(account_id=account_id, folio=folio, email_sent=sent)


class _HalfCreated(Exception):
    """The rollback could not delete the account: `error` is what failed first."""

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def _create(identity: IdentityDirectory, storage: ObjectStore, applicant: Applicant, username: str, folio: str,
            attributes: dict[str, str], pdf: bytes) -> tuple[str, str]:
    version = new_version()
    attributes = {**attributes, "enlace_version": version}  # the first link's version: no extra round trip
    try:
        account_id = identity.create_account(username=username, email=applicant.email, first_name=applicant.nombre,
                                             last_name=applicant.apellidos, attributes=attributes, enabled=False,
                                             groups=(group_path_of(applicant.tipo_usuario),))
    except AccountConflict:
        # Keycloak's unique username (a Mexican's RFC) or email: another account holds it, or a
        # registration racing this one got there first.
        taken = _held_in_keycloak(identity, applicant, username)
        if taken or not applicant.es_extranjero:
            raise DuplicateApplicant(taken or ["rfc"]) from None
        raise _UsernameTaken() from None
    try:
        storage.put(responsiva_key(account_id, folio), pdf, content_type=PDF, metadata={"folio": folio})
        if applicant.aviso_version:  # last: an audit event is never deleted, so only for a complete account
            record_acceptance(storage, account_id, applicant.aviso_version, applicant.aviso_sha256,
                              lang=applicant.idioma or "es", folio=folio)
    except StorageUnavailable as exc:  # the account exists: nothing after it talks to Keycloak
        if not _roll_back(identity, storage, account_id, folio):
            raise _HalfCreated(exc) from exc
        raise
    return account_id, version


def _held_in_keycloak(identity: IdentityDirectory, applicant: Applicant, username: str) -> list[str]:
    """Which of the values Keycloak keeps unique (a Mexican's RFC as username, the email) another
    account holds: two exact, indexed lookups, made only on the way to a refusal so that the page
    names every field concerned."""
    taken = []
    if not applicant.es_extranjero and identity.find_by_username(username.lower()) is not None:
        taken.append("rfc")
    if identity.find_by_email(applicant.email) is not None:
        taken.append("email")
    return taken


def _roll_back(identity: IdentityDirectory, storage: ObjectStore, account_id: str, folio: str) -> bool:
    """False when the account could not be deleted (the purge will)."""
    try:
        storage.delete(responsiva_key(account_id, folio))
    except StorageUnavailable:
        pass  # nothing was stored, or the purge removes the application's prefix
    try:
        identity.delete_account(account_id)
    except IdentityError:
        log.error("no se pudo borrar la cuenta incompleta %s; la purga la eliminará", account_id)
        return False
    return True


def _confirmation_email(settings: Settings, link: str, account_id: str, email: str, name: str, folio: str,
                        pdf: bytes, *, locale: str = ""):
    return compose("confirmacion", email, {
        "nombre": name, "enlace": link, "folio": folio,
        "vigencia_dias": max(1, settings.link_ttl_s // 86400),
    }, [Attachment(attachment_name(folio), PDF, pdf)], locale=locale, account_id=account_id)


def send_new_link(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
                  account_id: str, *, renderer: PdfRenderer | None = None, outbox: Outbox | None = None) -> None:
    """A fresh confirmation email: the responsiva (rendered again if its object is missing), a new
    link that supersedes every earlier one (rotated under the application's edit lock). Raises
    StorageUnavailable, IdentityError (AccountNotFound when the account is gone) or PdfUnavailable.
    Needs an app context (templates). Used by "Reenviar correo", the activation feature and the
    review console."""
    _send_new_link(identity, storage, mailer, settings, identity.get_account(account_id), renderer, outbox)


def resend(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
           account_id: str, *, renderer: PdfRenderer | None = None, outbox: Outbox | None = None) -> None:
    """What "Reenviar correo" does: only while the application still needs its link."""
    account = identity.get_account(account_id)
    if account.attr("estatus") not in RESENDABLE:
        raise ResendNotAllowed(account.attr("estatus"))
    _send_new_link(identity, storage, mailer, settings, account, renderer, outbox)


def _send_new_link(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
                   account: Account, renderer: PdfRenderer | None, outbox: Outbox | None) -> None:
    pdf = responsiva_of(account, storage, renderer)
    link = issue_link(identity, settings, account.id, storage=storage)
    (outbox or Outbox(storage, mailer, background=False)).enqueue(_confirmation_email(
        settings, link, account.id, account.email, f"{account.first_name} {account.last_name}".strip(),
        account.attr("folio"), pdf, locale=account.attr("locale")))
