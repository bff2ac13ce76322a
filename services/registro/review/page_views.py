"""Page images of applicants' documents, for the reviewer's viewer: rendered off the request path
(at submission, in a background thread; on demand when a reviewer opens one not made yet) and cached in
S3 beside the application, so a reviewer's page only reads small images. When a reviewer opens
an application whose images are missing (the process that should have made them stopped), they
are rendered then, on demand, within the renderer's own limits.

The images are bytes in S3 (domain/storage_keys.py: `page_view_prefix`); what was made of a document —
pages, image type, the codes read on it — is its manifest, a row of registro's database (ManifestStore;
S3 keeps bytes only), written after the images: its presence means the set is complete. A document that
cannot be rendered gets a manifest saying so, so it is not retried on every look; a renderer failure
(deadline, worker crash) writes nothing, so the next look tries again. A document whose object is gone
(deleted by the retention period, or lost) gets a MISSING manifest, never kept: the reviewer is told the
document is not available instead of the page failing. The codes read on a responsiva name its applicant:
manifests are forgotten with the application's documents (purge, retention, deletion on request).
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from registro.adapters.page_render import PageRenderer, RenderUnavailable
from registro.adapters.storage import ObjectMissing, ObjectStore, StorageUnavailable
from registro.domain.storage_keys import (PAGE_VIEWS_VERSION, application_of, legacy_page_view_manifest_key,
                                          page_view_key)
from registro.platform.db import Database
from registro.platform.db.schema import page_view_manifests

if TYPE_CHECKING:
    from registro.domain.application import Application, DocumentRecord

log = logging.getLogger(__name__)

OK, UNRENDERABLE, MISSING = "ok", "ilegible", "no-disponible"


@dataclass(frozen=True)
class Source:
    """A stored document to show: its object key, detected type, and whether to look for the
    responsiva's code in it."""

    key: str
    content_type: str
    codes: bool = False


@dataclass(frozen=True)
class Manifest:
    status: str  # OK | UNRENDERABLE | MISSING
    total_pages: int = 0
    shown_pages: int = 0
    image_type: str = ""
    codes: list[str] = field(default_factory=list)
    codes_searched: bool = False
    reason: str = ""  # for logs and operators, never shown to reviewers

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def missing(self) -> bool:
        return self.status == MISSING

    @property
    def truncated(self) -> bool:
        return self.ok and self.shown_pages < self.total_pages

    def to_dict(self) -> dict[str, Any]:
        return {"estado": self.status, "paginas": self.total_pages, "mostradas": self.shown_pages,
                "formato": self.image_type, "codigos": self.codes, "codigos_buscados": self.codes_searched,
                "motivo": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Manifest":
        return cls(status=d["estado"], total_pages=int(d.get("paginas", 0)), shown_pages=int(d.get("mostradas", 0)),
                   image_type=d.get("formato", ""), codes=list(d.get("codigos") or []),
                   codes_searched=bool(d.get("codigos_buscados")), reason=d.get("motivo", ""))


@runtime_checkable
class ManifestStore(Protocol):
    """Where manifests are kept: `PgManifestStore` here, `FakeManifestStore` in tests/fakes.py, both held to
    tests/support/manifest_contract.py. Raises DatabaseUnavailable."""

    def keep(self, source_key: str, manifest: dict[str, Any]) -> None:
        """The manifest of the document at `source_key`, made now (PAGE_VIEWS_VERSION), replacing any earlier."""
        ...

    def get(self, source_key: str) -> dict[str, Any] | None:
        """The manifest made at this PAGE_VIEWS_VERSION; None when none was (or at another version)."""
        ...

    def forget(self, account_id: str) -> int:
        """Deletes the manifests of the application's documents (they are being deleted); how many."""
        ...


class PgManifestStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def keep(self, source_key: str, manifest: dict[str, Any]) -> None:
        t = page_view_manifests
        row = {"source_key": source_key, "account_id": application_of(source_key), "version": PAGE_VIEWS_VERSION,
               "manifest": manifest}
        with self.db.transaction() as conn:
            conn.execute(insert(t).values(**row).on_conflict_do_update(
                index_elements=[t.c.source_key],
                set_={"version": PAGE_VIEWS_VERSION, "manifest": manifest, "made_at": func.now()}))

    def get(self, source_key: str) -> dict[str, Any] | None:
        t = page_view_manifests
        with self.db.transaction() as conn:
            return conn.execute(select(t.c.manifest).where(t.c.source_key == source_key,
                                                           t.c.version == PAGE_VIEWS_VERSION)).scalar_one_or_none()

    def forget(self, account_id: str) -> int:
        t = page_view_manifests
        with self.db.transaction() as conn:
            return conn.execute(delete(t).where(t.c.account_id == account_id)).rowcount


class PageViews:
    """One per process (container.Adapters.page_views)."""

    def __init__(self, storage: ObjectStore, renderer: PageRenderer, manifests: ManifestStore,
                 background_workers: int = 1, max_queued: int = 64) -> None:
        self.storage = storage
        self.renderer = renderer
        self.manifests = manifests
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}
        self._queued = 0
        self._background = ThreadPoolExecutor(max_workers=background_workers, thread_name_prefix="vistas")

    # --- reading ------------------------------------------------------------------------------
    def cached(self, source: Source) -> Manifest | None:
        kept = self.manifests.get(source.key)
        if kept is None:
            return None
        try:
            manifest = Manifest.from_dict(kept)
        except (ValueError, KeyError, TypeError):
            return None  # a damaged manifest is rendered again
        if source.codes and manifest.ok and not manifest.codes_searched:
            return None  # made without looking for the code: render again with it
        if not self._still_stored(source, manifest):
            return None  # rendered again: a document gone is told to the reviewer as not available
        return manifest

    def _still_stored(self, source: Source, manifest: Manifest) -> bool:
        """A row outlives objects deleted other than by forgetting the application (by hand, a restore of an
        older bucket), which took a manifest kept beside them in S3 along: one whose first image — or, with no
        images, whose document — is gone is not believed."""
        try:
            self.storage.head(page_view_key(source.key, 1) if manifest.ok and manifest.shown_pages else source.key)
        except ObjectMissing:
            return False
        return True

    def page(self, source_key: str, number: int) -> bytes:
        """Raises ObjectMissing for a page that was not rendered."""
        return self.storage.get(page_view_key(source_key, number))

    # --- making -------------------------------------------------------------------------------
    def ensure(self, source: Source) -> Manifest:
        """The cached manifest, or renders now (joining a render already under way for it).
        Raises RenderUnavailable or StorageUnavailable when nothing could be made now."""
        manifest = self.cached(source)
        if manifest is not None:
            return manifest
        with self._lock:
            running = self._inflight.get(source.key)
            if running is None:
                mine: Future = Future()
                self._inflight[source.key] = mine
        if running is not None:
            return running.result()
        try:
            manifest = self._render_and_store(source)
            mine.set_result(manifest)
            return manifest
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._inflight.pop(source.key, None)

    def schedule(self, source: Source) -> Future | None:
        """Renders in the background; failures are logged (the viewer renders on demand later).
        Past `max_queued` waiting jobs (a burst of uploads) the job is dropped, not queued: memory
        stays bounded and the viewer renders that document when it is first looked at."""
        with self._lock:
            if self._queued >= self.max_queued:
                log.warning("cola de vistas previas llena: se generará al abrir el documento")
                return None
            self._queued += 1
        return self._background.submit(self._quietly, source)

    def _quietly(self, source: Source) -> Manifest | None:
        with self._lock:
            self._queued -= 1
        try:
            return self.ensure(source)
        except (RenderUnavailable, StorageUnavailable) as exc:
            log.warning("vista previa no generada (se intentará al abrirla): %s", type(exc).__name__)
        except Exception:  # a background thread must not die silently
            log.exception("vista previa no generada")
        return None

    def _render_and_store(self, source: Source) -> Manifest:
        try:
            data = self.storage.get(source.key)
        except ObjectMissing:
            log.warning("documento sin objeto en el almacenamiento: vista no disponible")
            return Manifest(status=MISSING, reason="objeto no encontrado")  # not kept: nothing to render
        rendering = self.renderer.render(data, source.content_type, codes=source.codes)
        if rendering.error is not None:
            manifest = Manifest(status=UNRENDERABLE, reason=rendering.error)
            log.info("documento sin vista previa: %s (%.2f s)", rendering.error[:80], rendering.seconds)
        else:
            for number, image in enumerate(rendering.pages, start=1):
                self.storage.put(page_view_key(source.key, number), image, content_type=rendering.image_type)
            manifest = Manifest(status=OK, total_pages=rendering.total_pages, shown_pages=len(rendering.pages),
                                image_type=rendering.image_type, codes=rendering.codes, codes_searched=source.codes)
        self.manifests.keep(source.key, manifest.to_dict())
        self._drop_legacy_manifest(source.key)
        return manifest

    def _drop_legacy_manifest(self, source_key: str) -> None:
        """A manifest kept in S3 before migration 0011: gone once its row exists (S3 keeps bytes only)."""
        try:
            self.storage.delete(legacy_page_view_manifest_key(source_key))
        except (ObjectMissing, StorageUnavailable):  # none was kept, or the purge of the prefix takes it later
            pass

    def close(self) -> None:
        self._background.shutdown(wait=True)


# --- what to prepare, and when ----------------------------------------------------------------
def document_source(kind: str, record: "DocumentRecord") -> Source:
    from registro.domain.documents import RESPONSIVA

    return Source(record.key, record.content_type, codes=kind == RESPONSIVA)


def prepare_application(page_views: PageViews | None, app: "Application") -> None:
    """At submission, in the background, before a reviewer opens the application: the page images of
    the documents as submitted (those already made are kept). Not at each upload: an applicant may
    replace a document several times before submitting, and a render costs ≈ 250 ms of CPU that
    would compete with applicants' requests for nothing."""
    if page_views is None:
        return
    for kind, record in app.documents.items():
        page_views.schedule(document_source(kind, record))
    if app.folio:
        from registro.domain.storage_keys import responsiva_key

        page_views.schedule(Source(responsiva_key(app.id, app.folio), "application/pdf"))
