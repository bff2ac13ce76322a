"""What registro's database keeps about an application's documents beside the documents themselves.

Three stores describe stored documents, and each holds personal data of its own:
- the direct uploads' markers (documents/direct_uploads.py) name the files and the ID's details;
- the readings (documents/readings.py) hold what the machine read of them;
- the viewer's page manifests (review/page_views.py) keep the codes read on their pages (a responsiva's
  QR names its applicant).
Every path that deletes an application's documents — the purge of expired applications, the retention
periods, the cancellation on request — deletes them with `erase_documents`: a store added later is named
once (container.Adapters.document_traces) and no path forgets it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from registro.adapters.storage import ObjectStore


class Forgets(Protocol):
    def forget(self, account_id: str) -> object:
        """Deletes what it keeps of the application of `account_id`."""
        ...


@dataclass(frozen=True)
class DocumentTraces:
    stores: tuple[Forgets, ...] = ()

    def forget(self, account_id: str) -> None:
        for store in self.stores:
            store.forget(account_id)


def erase_documents(storage: ObjectStore, account_id: str, keys: Iterable[str], traces: DocumentTraces) -> None:
    """The application's objects (`keys`, listed under its prefix), then what describes them."""
    for key in keys:
        storage.delete(key)
    traces.forget(account_id)
