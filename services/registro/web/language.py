"""Remembers the language an applicant switches to on their own pages in Keycloak's `locale`
attribute, so every later email (ours and Keycloak's) uses it.

Only a page reached through the applicant's own signed link names the application: the activation
page (/activacion/<token>) and the status page (/consulta/<token>). The switch there (`?lang=`) is
a plain link, so this runs after the page rendered; a failure only costs the remembering.
"""
from __future__ import annotations

import logging

from flask import Blueprint, request

from keycloak_ext import IdentityError

from registro import i18n
from registro.platform.db import DatabaseUnavailable
from registro.container import adapters, settings
from registro.kernel.links import LinkExpired, LinkInvalid, LinkSuperseded
from registro.kernel.confirmation_links import signer as activation_signer
from registro.kernel.record_lock import ApplicationBusy, update_record
from registro.kernel.status_links import StatusLinkInvalid, signer as status_signer

log = logging.getLogger(__name__)

bp = Blueprint("language", __name__)


def _account_of_link() -> str | None:
    token = (request.view_args or {}).get("token", "")
    try:
        if request.endpoint == "activation.page":
            return activation_signer(settings()).read(token).account_id
        if request.endpoint == "status.page":
            return status_signer(settings()).read(token)
    except (LinkInvalid, LinkExpired, LinkSuperseded, StatusLinkInvalid):
        return None
    return None


@bp.after_app_request
def remember_language(response):
    chosen = i18n.requested_locale()
    if not chosen or request.method != "GET" or response.status_code != 200:
        return response
    account_id = _account_of_link()
    if not account_id:
        return response
    a = adapters()
    try:
        update_record(a.identity, account_id,  # the same lock as the applicant's other changes
                      lambda account: {"attributes": {"locale": chosen}} if account.attr("locale") != chosen else {})
    except (IdentityError, DatabaseUnavailable, ApplicationBusy) as exc:
        log.warning("no se guardó el idioma de la solicitud %s: %s", account_id, type(exc).__name__)
    return response
