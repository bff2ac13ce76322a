"""The adapters one app instance talks to, chosen by configuration in `create_app`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from .adapters.identity import IdentityDirectory
from .adapters.mail import Mailer
from .adapters.storage import ObjectStore
from .config import Settings


@dataclass
class Adapters:
    identity: IdentityDirectory
    storage: ObjectStore
    mailer: Mailer
    extra: dict[str, Any] | None = None  # later adapters (pdf renderer, captcha) register here


def adapters() -> Adapters:
    return current_app.extensions["registro.adapters"]


def settings() -> Settings:
    return current_app.extensions["registro.settings"]


def real_adapters(s: Settings) -> Adapters:
    from keycloak_ext import KeycloakGateway

    from .adapters.mail import SmtpMailer
    from .adapters.storage import S3Store

    return Adapters(identity=KeycloakGateway.for_service(s.keycloak), storage=S3Store(s.s3), mailer=SmtpMailer(s.smtp))
