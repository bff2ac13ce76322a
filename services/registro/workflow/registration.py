"""Registration (SPEC §4-§5): a disabled account, its responsiva and the confirmation email.

The steps are ordered so that a failure never leaves half an application:
  1. duplicates are looked up (Keycloak down → IdentityUnavailable, nothing created);
  2. the responsiva is rendered (fails → nothing created);
  3. the disabled account is created with every attribute;
  4. the responsiva is stored in S3 and the user-type role assigned (either fails → the
     account is deleted again and the error propagates);
  5. a new link is issued and the email sent (fails → the account stays complete and the
     applicant uses "Reenviar correo", which renders the responsiva again if it went missing).
If the clean-up in step 4 cannot reach Keycloak either, the account is left in
`pendiente_correo` and the purge command removes it when unconfirmed applications expire.

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
from keycloak_ext.catalog import USER_TYPE_SLUGS

from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Attachment, Mailer, MailUnavailable
from ..adapters.pdf import PdfRenderer
from ..adapters.storage import ObjectStore, StorageUnavailable
from ..config import Settings
from ..domain import status
from ..domain.application import now_iso
from ..domain.geography import MEXICO
from ..domain.storage_keys import responsiva_key
from ..emails import compose
from .confirmation_links import issue_link
from .privacy import record_acceptance
from .responsiva import PDF, attachment_name, render_responsiva, responsiva_context, responsiva_of

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


def find_duplicates(identity: IdentityDirectory, applicant: Applicant) -> list[str]:
    """Form fields whose value already belongs to an account (SPEC §4: one account per person)."""
    taken: list[str] = []
    if applicant.curp and identity.find_by_attribute("curp", applicant.curp, max_results=1):
        taken.append("curp")
    if not applicant.es_extranjero and identity.find_by_username(username_for_rfc(applicant.rfc).lower()) is not None:
        taken.append("rfc")
    if applicant.es_extranjero and any(a.attr("pais") == applicant.pais
                                       for a in identity.find_by_attribute("pasaporte", applicant.pasaporte)):
        taken.append("pasaporte")
    if identity.find_by_email(applicant.email) is not None:
        taken.append("email")
    return taken


def username_for_rfc(rfc: str) -> str:
    return rfc.replace("&", "-")


def random_code(length: int = 8) -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(length))


def new_folio(identity: IdentityDirectory) -> str:
    """"AU-<year>-" + 8 Crockford characters (32⁸ ≈ 10¹²), checked against existing folios."""
    for _ in range(_MAX_DRAWS):
        folio = f"AU-{datetime.now(timezone.utc).year}-{random_code()}"
        if not identity.find_by_attribute("folio", folio, max_results=1):
            return folio
    raise RuntimeError("no se pudo generar un folio único")


def register(applicant: Applicant, *, identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer,
             settings: Settings, renderer: PdfRenderer | None = None) -> Registered:
    taken = find_duplicates(identity, applicant)
    if taken:
        raise DuplicateApplicant(taken)
    folio = new_folio(identity)
    attributes = applicant.attributes(folio=folio, fecha_registro=now_iso())
    pdf = render_responsiva(responsiva_context(first_name=applicant.nombre, last_name=applicant.apellidos,
                                               email=applicant.email, attributes=attributes), renderer)
    account_id = _create_account(identity, applicant, attributes)
    try:
        storage.put(responsiva_key(account_id, folio), pdf, content_type=PDF, metadata={"folio": folio})
        identity.assign_realm_role(account_id, applicant.tipo_usuario)
        if applicant.aviso_version:  # last: an audit event is never deleted, so only for a complete account
            record_acceptance(storage, account_id, applicant.aviso_version, applicant.aviso_sha256,
                              lang=applicant.idioma or "es", folio=folio)
    except (StorageUnavailable, IdentityError):
        _roll_back(identity, storage, account_id, folio)
        raise
    try:
        _send_confirmation(identity, mailer, settings, account_id, applicant.email,
                           f"{applicant.nombre} {applicant.apellidos}", folio, pdf, locale=applicant.idioma)
        sent = True
    except (MailUnavailable, IdentityError) as exc:
        # The application is complete; "Reenviar correo" issues the link and sends it later.
        log.warning("registro %s sin correo de confirmación: %s", account_id, type(exc).__name__)
        sent = False
    log.info("registro creado: cuenta %s, folio %s", account_id, folio)
    return Registered(account_id=account_id, folio=folio, email_sent=sent)


def _create_account(identity: IdentityDirectory, applicant: Applicant, attributes: dict[str, str]) -> str:
    for _ in range(_MAX_DRAWS):
        username = username_for_rfc(applicant.rfc) if not applicant.es_extranjero else FOREIGN_USERNAME_PREFIX + random_code()
        try:
            return identity.create_account(username=username, email=applicant.email, first_name=applicant.nombre,
                                           last_name=applicant.apellidos, attributes=attributes, enabled=False)
        except AccountConflict:
            # Someone registered the same email or RFC since find_duplicates ran, or a generated
            # username was taken: look again to tell which.
            taken = find_duplicates(identity, applicant)
            if taken:
                raise DuplicateApplicant(taken) from None
            if not applicant.es_extranjero:
                raise DuplicateApplicant(["rfc"]) from None
    raise RuntimeError("no se pudo generar un usuario único")


def _roll_back(identity: IdentityDirectory, storage: ObjectStore, account_id: str, folio: str) -> None:
    try:
        identity.delete_account(account_id)
    except IdentityError:
        log.error("no se pudo borrar la cuenta incompleta %s; la purga la eliminará", account_id)
    try:
        storage.delete(responsiva_key(account_id, folio))
    except StorageUnavailable:
        pass  # nothing was stored, or the purge removes the application's prefix


def _send_confirmation(identity: IdentityDirectory, mailer: Mailer, settings: Settings, account_id: str,
                       email: str, name: str, folio: str, pdf: bytes, *, locale: str = "") -> None:
    link = issue_link(identity, settings, account_id)
    mailer.send(compose("confirmacion", email, {
        "nombre": name, "enlace": link, "folio": folio, "vigencia_dias": max(1, settings.link_ttl_s // 86400),
    }, [Attachment(attachment_name(folio), PDF, pdf)], locale=locale, account_id=account_id))


def send_new_link(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
                  account_id: str, *, renderer: PdfRenderer | None = None) -> None:
    """A fresh confirmation email: the responsiva (rendered again if its object is missing), a new
    link that supersedes every earlier one. Raises MailUnavailable, StorageUnavailable,
    IdentityError (AccountNotFound when the account is gone) or PdfUnavailable. Needs an app context
    (templates). Used by "Reenviar correo", the activation feature and the review console."""
    _send_new_link(identity, storage, mailer, settings, identity.get_account(account_id), renderer)


def resend(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
           account_id: str, *, renderer: PdfRenderer | None = None) -> None:
    """What "Reenviar correo" does: only while the application still needs its link."""
    account = identity.get_account(account_id)
    if account.attr("estatus") not in RESENDABLE:
        raise ResendNotAllowed(account.attr("estatus"))
    _send_new_link(identity, storage, mailer, settings, account, renderer)


def _send_new_link(identity: IdentityDirectory, storage: ObjectStore, mailer: Mailer, settings: Settings,
                   account: Account, renderer: PdfRenderer | None) -> None:
    pdf = responsiva_of(account, storage, renderer)
    _send_confirmation(identity, mailer, settings, account.id, account.email,
                       f"{account.first_name} {account.last_name}".strip(), account.attr("folio"), pdf,
                       locale=account.attr("locale"))
