"""The emails a review decision sends (SPEC §7): approval, correction request, rejection — composed
when the decision is made, delivered by the outbox (platform/outbox.py), never on the request path.

Each decision writes its rows *held* before the application changes (review/decisions.py), with the
attempt's nonce (`intento`) that the change writes into the record's `revision`. `DecisionDelivery`
is the outbox's deliverer for these kinds: it sends a row only when the record holds the decision
with that nonce, so a row whose change never happened (the request died, the change was refused, a double
click lost) is deleted unsent instead of telling the applicant something untrue.

What sits in the database, and for how long: a row keeps the rendered email until it is sent (then
the outbox blanks it) — including, while SMTP is down and until a reviewer queues it again when it
ended `fallido`, the approval email of credentials_mode "temporal" with its temporary password, and a
correction's personal link. Mode "enlace" is the safer one: its rows hold no secret at all — the
approval email says to set a password, and the `aprobacion_enlace` row only names the account:
Keycloak mints its action token (valid link_ttl_s) when the row is delivered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from keycloak_ext import AccountNotFound, IdentityError
from keycloak_ext.passwords import temporary_password

from registro.kernel import emails
from registro.adapters.identity import UPDATE_PASSWORD, IdentityDirectory
from registro.adapters.mail import OutgoingEmail
from registro.config import Settings
from registro.domain.application import Application
from registro.domain.documents import CORRECTION_REASONS, DOCUMENT_LABELS
from registro.platform.outbox import DueRow, Obsolete, Refused, Unreadable, email_from_dict, email_to_dict
from registro.kernel.confirmation_links import link_for
from registro.kernel.status_links import status_url

APPROVAL, APPROVAL_LINK, CORRECTION, REJECTION = "aprobacion", "aprobacion_enlace", "correccion", "rechazo"
KINDS = (APPROVAL, APPROVAL_LINK, CORRECTION, REJECTION)


def login_url(settings: Settings) -> str:
    return settings.portal_login_url  # the ANAM portal's login, not Keycloak's account console


@dataclass(frozen=True)
class Letter:
    """One row a decision queues: an email, or (email None) Keycloak's set-password email."""
    kind: str
    email: OutgoingEmail | None = None

    def payload(self, account_id: str, nonce: str) -> bytes:
        data = {"cuenta": account_id, "intento": nonce}
        if self.email is not None:
            data["correo"] = email_to_dict(self.email)
        return json.dumps(data, ensure_ascii=False).encode()


class DecisionEmails:
    """Composes a decision's letters (inside the request: the templates need the app context)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _compose(self, name: str, app: Application, context: dict) -> OutgoingEmail:
        return emails.compose(name, app.account.email, {"nombre": app.account.first_name, **context},
                              locale=app.account.attr("locale"), consulta=status_url(self.settings, app.id))

    @staticmethod
    def new_temporary_password(app: Application) -> str:
        return temporary_password(app.account.username, app.account.email)

    def approval(self, app: Application, password: str | None, mode: str) -> list[Letter]:
        """`password`: the temporary password the decision will set (mode "temporal")."""
        email = self._compose(APPROVAL, app, {"usuario": app.account.username, "contrasena": password, "modo": mode,
                                              "login_url": login_url(self.settings)})
        letters = [Letter(APPROVAL, email)]
        if mode == "enlace":
            letters.append(Letter(APPROVAL_LINK))
        return letters

    def correction(self, app: Application, reasons: dict[str, list[str]], comment: str, version: str) -> list[Letter]:
        """`version`: the link version the decision writes with the status (the earlier link dies then)."""
        items = [(DOCUMENT_LABELS.get(kind, kind), [CORRECTION_REASONS.get(c, c) for c in codes])
                 for kind, codes in reasons.items()]
        return [Letter(CORRECTION, self._compose("correccion", app, {
            "motivos": items, "comentario": comment, "enlace": link_for(self.settings, app.id, version),
            "plazo_dias": self.settings.expire_incomplete_s // 86400}))]  # ops/expiry.py: then it is deleted

    def rejection(self, app: Application, reason: str) -> list[Letter]:
        return [Letter(REJECTION, self._compose("rechazo", app, {"motivo": reason, "folio": app.folio}))]


class DecisionDelivery:
    """The outbox's deliverer for the decision kinds (container.py routes them here)."""

    def __init__(self, identity: IdentityDirectory, settings: Settings) -> None:
        self.identity = identity
        self.settings = settings

    def __call__(self, row: DueRow, send) -> None:
        try:
            data = json.loads(row.message)
            account_id, nonce = data["cuenta"], data["intento"]
            email = email_from_dict(data["correo"]) if "correo" in data else None
        except (ValueError, KeyError, TypeError):
            raise Unreadable() from None
        try:
            applied = Application(self.identity.get_account(account_id)).decision.get("intento") == nonce
        except AccountNotFound:
            raise Obsolete() from None  # the account is gone (deleted, purged): nobody to tell
        except IdentityError as exc:
            raise Refused(f"Keycloak: {type(exc).__name__}") from None
        if not applied:
            raise Obsolete()
        if email is not None:
            send(email)
            return
        try:
            self.identity.send_actions_email(account_id, [UPDATE_PASSWORD], lifespan_s=self.settings.link_ttl_s,
                                             client_id=self.settings.portal_client_id,
                                             redirect_uri=self.settings.portal_login_url)
        except IdentityError as exc:
            raise Refused(f"Keycloak no envió su correo ({type(exc).__name__})") from None
