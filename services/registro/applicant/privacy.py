"""The privacy notice ("Aviso de privacidad"): operator-editable, versioned files, and its acceptance.

A notices folder holds one sub-folder per version (named by publication date; the greatest name is
the current one) with `simplificado.<lang>.html` and `integral.<lang>.html` (see privacy/README.md).
They are read once at start-up. What an applicant accepted is recorded in the application's audit
trail: the version, the SHA-256 of the Spanish texts and the time.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from registro.kernel.audit import PRIVACY_ACCEPTED as ACCEPT, AuditEvent, new_event

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "privacy"
APPLICANT_ACTOR = "solicitante"
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}[a-z0-9-]*$")


class NoticeMissing(Exception):
    """The notices folder has no valid version: the registration form cannot be offered."""


@dataclass(frozen=True)
class Notice:
    version: str
    sha256: str  # of the Spanish texts (simplified + integral): what the applicant accepted
    texts: dict[tuple[str, str], str]  # (kind, lang) -> HTML fragment

    def text(self, kind: str, lang: str) -> str:
        return self.texts.get((kind, lang)) or self.texts[(kind, "es")]


class PrivacyNotices:
    def __init__(self, folder: str | Path | None = None) -> None:
        root = Path(folder) if folder else BUNDLED_DIR
        versions = sorted(p for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name)) if root.is_dir() else []
        self.versions: dict[str, Notice] = {}
        for path in versions:
            texts = {}
            for file in path.glob("*.html"):
                kind, _, lang = file.stem.partition(".")
                if kind in ("simplificado", "integral") and lang:
                    texts[(kind, lang)] = file.read_text("utf-8")
            if ("simplificado", "es") in texts and ("integral", "es") in texts:
                digest = hashlib.sha256((texts[("simplificado", "es")] + "\0" + texts[("integral", "es")])
                                        .encode("utf-8")).hexdigest()
                self.versions[path.name] = Notice(path.name, digest, texts)
        if not self.versions:
            raise NoticeMissing(f"no hay avisos de privacidad en {root}")
        self.current = self.versions[max(self.versions)]


def acceptance_event(account_id: str, version: str, sha256: str, *, lang: str, folio: str) -> AuditEvent:
    """The acceptance, for the application's audit trail: written by the transaction that completes the
    registration (kernel/applications.complete), so an account exists exactly when its acceptance does.
    The time is the event's."""
    return new_event(ACCEPT, account_id, actor_id=APPLICANT_ACTOR, actor_username=APPLICANT_ACTOR,
                     details={"aviso_version": version, "aviso_sha256": sha256, "idioma": lang, "folio": folio})
