"""Issues an application's personal link: rotates `enlace_version`, so earlier links stop working."""
from __future__ import annotations

from registro.adapters.identity import IdentityDirectory
from registro.config import Settings
from registro.kernel.links import LinkSigner, new_version

ACTIVATION_PATH = "/activacion/"  # served by documents/views.py


def signer(settings: Settings) -> LinkSigner:
    return LinkSigner(settings.signing_keys, settings.link_ttl_s)


def issue_link(identity: IdentityDirectory, settings: Settings, account_id: str) -> str:
    """Stores a new link version on the application and returns the full URL to email. The write
    merges one attribute under the application's row lock (kernel/records.py), so a concurrent
    upload's record is never overwritten."""
    version = new_version()
    identity.update_attributes(account_id, {"enlace_version": version})
    return link_for(settings, account_id, version)


def link_for(settings: Settings, account_id: str, version: str) -> str:
    """The URL of a link whose version the account already holds (set at creation)."""
    return link_url(settings, signer(settings).issue(account_id, version))


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url}{ACTIVATION_PATH}{token}"
