"""Where things live in the bucket. Keys are built here only, never from uploaded names."""
from __future__ import annotations

import secrets


def responsiva_key(account_id: str, folio: str) -> str:
    return f"solicitudes/{account_id}/responsiva/{folio}.pdf"


def document_key(account_id: str, kind: str) -> str:
    return f"solicitudes/{account_id}/documentos/{kind}/{secrets.token_hex(16)}"


def application_prefix(account_id: str) -> str:
    return f"solicitudes/{account_id}/"


PAGE_VIEWS_VERSION = "v1"  # bump when the page images change (size, format): old ones are not reused


def page_view_prefix(source_key: str) -> str:
    """Where the viewer's page images of a stored document live: inside its application's prefix
    (so they are purged with it) and named after the document's own key (a replaced document
    gets new images)."""
    account_id = application_of(source_key)
    return f"{application_prefix(account_id)}vistas/{PAGE_VIEWS_VERSION}/{source_key.split('/', 2)[2]}/"


def page_view_key(source_key: str, number: int) -> str:
    return f"{page_view_prefix(source_key)}pagina-{number:03d}"


def legacy_page_view_manifest_key(source_key: str) -> str:
    """Where a page-image manifest was kept before it became a row (migration 0011): deleted when met."""
    return f"{page_view_prefix(source_key)}manifest.json"


def application_of(key: str) -> str:
    """The account id of any key under an application's prefix; ValueError for any other key."""
    head, account_id, rest = (key.split("/", 2) + ["", ""])[:3]
    if head != "solicitudes" or not account_id or not rest:
        raise ValueError("solo objetos de una solicitud")
    return account_id


def document_owner(key: str) -> tuple[str, str]:
    """(account id, document kind) of a key `document_key` gave; ValueError for any other key."""
    head, account_id, folder, kind, token = (key.split("/") + [""] * 5)[:5]
    if head != "solicitudes" or folder != "documentos" or not (account_id and kind and token):
        raise ValueError("solo documentos de una solicitud")
    return account_id, kind


def stored_document_key(account_id: str, kind: str, token: str) -> str:
    """The key `document_key` gave a document, from its parts (the viewer's image URLs carry them)."""
    return f"solicitudes/{account_id}/documentos/{kind}/{token}"
