"""The three emails a review decision sends (SPEC §7): approval, correction request, rejection.

Each returns whether the applicant's email left; any failure (SMTP, Keycloak issuing a link or a
password) answers False so the decision is listed for a resend — never an exception that would
leave a decided application without its email or its resend marker."""
from __future__ import annotations

import logging

from keycloak_ext import IdentityError
from keycloak_ext.passwords import temporary_password

from .. import emails
from ..adapters.identity import IdentityDirectory
from ..adapters.mail import Mailer, MailUnavailable
from ..adapters.storage import ObjectStore
from ..config import Settings
from ..domain.application import Application
from ..domain.documents import CORRECTION_REASONS, DOCUMENT_LABELS
from .confirmation_links import issue_link

log = logging.getLogger(__name__)


def login_url(settings: Settings) -> str:
    return settings.portal_login_url  # the ANAM portal's login, not Keycloak's account console


class DecisionEmails:
    def __init__(self, identity: IdentityDirectory, mailer: Mailer, settings: Settings,
                 store: ObjectStore | None = None) -> None:
        self.identity = identity
        self.store = store  # the correction link's version rotates under the record's edit lock
        self.mailer = mailer
        self.settings = settings

    def _deliver(self, name: str, app: Application, context: dict) -> bool:
        message = emails.compose(name, app.account.email, {"nombre": app.account.first_name, **context},
                                 locale=app.account.attr("locale"), account_id=app.id)
        try:
            self.mailer.send(message)
            return True
        except MailUnavailable:
            log.error("correo %s no enviado (solicitud %s)", name, app.id)
            return False

    def new_temporary_password(self, app: Application) -> str:
        password = temporary_password(app.account.username, app.account.email)
        self.identity.set_temporary_password(app.id, password)
        return password

    def approval(self, app: Application, password: str | None, mode: str) -> bool:
        """`password` is the temporary password already set (mode "temporal"); None sets a new one
        (a resend, or a decision completed after a crash: the lost one is replaced)."""
        try:
            if mode == "temporal" and password is None:
                password = self.new_temporary_password(app)
            ok = self._deliver("aprobacion", app, {"usuario": app.account.username, "contrasena": password,
                                                   "modo": mode, "login_url": login_url(self.settings)})
            del password
            if mode == "enlace" and ok:
                self.identity.send_actions_email(app.id, ["UPDATE_PASSWORD"], lifespan_s=self.settings.link_ttl_s,
                                                 client_id=self.settings.portal_client_id,
                                                 redirect_uri=self.settings.portal_login_url)
            return ok
        except IdentityError as exc:
            log.error("correo de aprobación incompleto: Keycloak %s (solicitud %s)", type(exc).__name__, app.id)
            return False

    def correction(self, app: Application, reasons: dict[str, list[str]], comment: str) -> bool:
        try:
            link = issue_link(self.identity, self.settings, app.id, storage=self.store)
        except IdentityError as exc:
            log.error("no se pudo emitir el enlace de corrección: %s (solicitud %s)", type(exc).__name__, app.id)
            return False
        items = [(DOCUMENT_LABELS.get(kind, kind), [CORRECTION_REASONS.get(c, c) for c in codes])
                 for kind, codes in reasons.items()]
        return self._deliver("correccion", app, {"motivos": items, "comentario": comment, "enlace": link})

    def rejection(self, app: Application, reason: str) -> bool:
        return self._deliver("rechazo", app, {"motivo": reason, "folio": app.folio})
