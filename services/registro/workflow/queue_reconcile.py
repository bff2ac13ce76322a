"""Rebuilds the queue index from Keycloak (the record) and reports the drift it found.

Safe to run while reviewers work: before removing an entry Keycloak does not list, or adding one it
does, the account is read again, so a submission or a decision made during the run is not undone.
Reservations are rebuilt from the S3 leases (the authority on who holds what).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from keycloak_ext import AccountNotFound

from ..adapters.identity import IdentityDirectory
from ..adapters.storage import ObjectStore
from ..domain import status as st
from ..domain.application import Application
from ..domain.storage_keys import LEASES_PREFIX
from .leases import Leases
from .queue_index import QueueIndex, entry_for


@dataclass
class Drift:
    pending: int = 0  # en_revision in Keycloak
    missing: list[str] = field(default_factory=list)  # in Keycloak, not in the index
    extra: list[str] = field(default_factory=list)  # in the index, not en_revision in Keycloak
    stale: list[str] = field(default_factory=list)  # in both, but the entry differs
    reservations_fixed: int = 0

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.stale) + self.reservations_fixed


def reconcile(identity: IdentityDirectory, store: ObjectStore, index: QueueIndex, *, repair: bool,
              lease_s: int = 1800) -> Drift:
    drift = Drift()
    expected = {}
    for account in identity.iter_by_attribute("estatus", st.EN_REVISION, page_size=500):
        app = Application(account)
        if app.status == st.EN_REVISION:  # Keycloak's attribute search is a substring match
            expected[app.id] = entry_for(app)
    drift.pending = len(expected)
    indexed = set(index.all_ids())
    present = {e.account_id: e for e in index.entries(sorted(indexed & set(expected)))}
    for account_id, entry in expected.items():
        if account_id not in indexed:
            drift.missing.append(account_id)
        elif present.get(account_id) != entry or present[account_id].terms != entry.terms:
            drift.stale.append(account_id)
    drift.extra = sorted(indexed - set(expected))
    if repair:
        for account_id in drift.missing + drift.stale:
            current = _reread(identity, account_id)
            if current is not None and current.status == st.EN_REVISION:
                index.add(entry_for(current))
        for account_id in drift.extra:
            current = _reread(identity, account_id)
            if current is None or current.status != st.EN_REVISION:
                index.remove(account_id)
            else:  # submitted during the run
                index.add(entry_for(current))
    drift.reservations_fixed = _reservations(store, index, set(expected), lease_s, repair)
    return drift


def _reread(identity: IdentityDirectory, account_id: str) -> Application | None:
    try:
        return Application(identity.get_account(account_id))
    except AccountNotFound:
        return None


def _reservations(store: ObjectStore, index: QueueIndex, pending: set[str], lease_s: int, repair: bool) -> int:
    leases = Leases(store, lease_s)
    actual = {}
    for key in store.list_keys(LEASES_PREFIX):
        account_id = key[len(LEASES_PREFIX):-len(".json")]
        if account_id in pending:
            lease = leases.active(account_id)
            if lease is not None:
                actual[account_id] = lease.expires_at
    mirrored = index.reserved()
    wrong = {i for i in set(actual) | set(mirrored) if actual.get(i) != mirrored.get(i)}
    if repair:
        for account_id in wrong:
            if account_id in actual:
                index.mark_reserved(account_id, actual[account_id])
            else:
                index.mark_released(account_id)
    return len(wrong)
