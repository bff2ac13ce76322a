"""In-memory twins of the adapters, for unit tests only.

`tests/unit/test_fakes_match_protocols.py` checks each one against the same
Protocol the real adapter implements, so a fake cannot drift from reality's shape.
Each fake has `down = True` to simulate its server being unreachable.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import replace
from typing import BinaryIO, Iterator

from keycloak_ext import Account, AccountConflict, AccountNotFound, IdentityRejected, IdentityUnavailable
from keycloak_ext.catalog import USER_TYPES, group_path_of
from keycloak_ext.realm_files import load_realm, load_user_profile
from registro.adapters.mail import MailUnavailable, OutgoingEmail
from registro.adapters.storage import ObjectMissing, PresignedPut, StorageUnavailable, StoredObject


_PROFILE_RULES = {a["name"]: a.get("validations", {}) for a in load_user_profile()["attributes"]}


def profile_refusals(values: dict[str, str | None]) -> tuple[str, ...]:
    """The attributes Keycloak's declarative user profile would refuse, judged like Keycloak does:
    `length` in UTF-16 code units (Java's String.length()) and `pattern` on the whole value."""
    refused = []
    for name, value in values.items():
        rules = _PROFILE_RULES.get(name, {})
        if not value:
            continue
        length = len(value.encode("utf-16-le")) // 2
        bounds = rules.get("length", {})
        if length > int(bounds.get("max", 10**9)) or length < int(bounds.get("min", 0)):
            refused.append(name)
        elif "pattern" in rules and not re.fullmatch(rules["pattern"]["pattern"].strip("^$"), value):
            refused.append(name)
    return tuple(refused)


# Every account of the realm holds Keycloak's default roles (the composite default-roles-<realm>).
_DEFAULT_ROLES = frozenset({"default-roles-anam", "offline_access", "uma_authorization"})


class _FakeLockedRecord:
    """kernel.records.LockedRecord's twin: the account read under the lock, written through it."""

    def __init__(self, identity: "FakeIdentity", account_id: str, account: Account) -> None:
        self._identity, self._id, self.account = identity, account_id, account

    def update(self, **changes) -> Account:
        self._identity._writing_held.active = True
        try:
            self.account = self._identity.update_account(self._id, **changes)
        finally:
            self._identity._writing_held.active = False
        return self.account

    def delete_account(self) -> None:
        self._identity._delete(self._id)


class FakeIdentity:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.roles: dict[str, set[str]] = {}  # direct realm-role mappings only
        # The realm file's groups (path → realm roles) and each account's memberships, as Keycloak
        # keeps them; the service account may manage the membership of the user-type groups only.
        self.groups: dict[str, set[str]] = {
            g.get("path", "/" + g["name"]): set(g.get("realmRoles", [])) for g in load_realm().get("groups", [])}
        self.membership_allowed: set[str] = {group_path_of(t.slug) for t in USER_TYPES}
        self.memberships: dict[str, set[str]] = {}
        self.calls: dict[str, int] = {}  # admin calls that change an account, by method name
        self.passwords: dict[str, tuple[str, bool]] = {}
        self.password_dates: dict[str, float] = {}  # when each password was set, as Keycloak's createdDate
        self.actions_emails: list[tuple[str, list[str]]] = []
        self.required_actions: dict[str, list[str]] = {}
        self.down = False
        # Keycloak's unique constraints (realm + username, realm + email): check and insert are one step.
        self._unique = threading.Lock()
        # The application's row lock (kernel/records.py: SELECT … FOR UPDATE, lock_timeout): not
        # re-entrant — a write from inside `locked` waits for itself, as it would on PostgreSQL.
        self._row_locks: dict[str, threading.Lock] = {}
        self._writing_held = threading.local()
        self.lock_wait_s = 5.0
        # The FakeApplicationStore sharing this "database": a rejection closes its application in the same
        # change (kernel/records.RecordedIdentity._write).
        self.applications: "FakeApplicationStore | None" = None

    def _check(self) -> None:
        if self.down:
            raise IdentityUnavailable("Keycloak no responde")

    def _get(self, account_id: str) -> Account:
        self._check()
        if account_id not in self.accounts:
            raise AccountNotFound(account_id)
        return self.accounts[account_id]

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def create_account(self, *, username: str, email: str, first_name: str, last_name: str,
                       attributes: dict[str, str], enabled: bool = False, email_verified: bool = False,
                       groups: tuple[str, ...] = (), recorded: bool = False) -> str:
        # `recorded` changes nothing here: this twin keeps the whole record with the account.
        self._check()
        self._count("create_account")
        # The username is built by the service, not typed: left out (tests use short ones).
        refused = profile_refusals({"email": email, "firstName": first_name, "lastName": last_name, **attributes})
        if refused:  # like Keycloak: 400 naming the fields, nothing created
            raise IdentityRejected("error-invalid-value", refused)
        with self._unique:
            if any(a.username == username.lower() or (email and a.email == email.lower())
                   for a in list(self.accounts.values())):
                raise AccountConflict("ya existe")
            # Like Keycloak 26.7 (tried): after the profile check and the unique constraints, each group
            # is looked up by path and the whole create rolled back when one fails — a path no group
            # has → 500 (the gateway's IdentityUnavailable), a group whose membership the service
            # account may not manage → 403 (IdentityRejected).
            if any(g not in self.groups for g in groups):
                raise IdentityUnavailable("Keycloak respondió 500")
            if any(g not in self.membership_allowed for g in groups):
                raise IdentityRejected("HTTP 403 Forbidden")
            account_id = str(uuid.uuid4())
            self.roles[account_id] = set()
            self.memberships[account_id] = set(groups)
            self.accounts[account_id] = Account(id=account_id, username=username.lower(), email=email.lower(),
                                                first_name=first_name, last_name=last_name, enabled=enabled,
                                                email_verified=email_verified, created_ms=0,
                                                attributes={k: v for k, v in attributes.items() if v != ""})
        return account_id

    def get_account(self, account_id: str) -> Account:
        return self._get(account_id)

    def find_by_username(self, username: str) -> Account | None:
        self._check()
        return next((a for a in self.accounts.values() if a.username == username.lower()), None)

    def find_by_email(self, email: str) -> Account | None:
        self._check()
        return next((a for a in self.accounts.values() if a.email == email.lower()), None)

    def find_by_attribute(self, name: str, value: str, *, first: int = 0, max_results: int = 100) -> list[Account]:
        self._check()
        found = [a for a in self.accounts.values() if a.attr(name) == value]
        return found[first:first + max_results]

    def iter_by_attribute(self, name: str, value: str, page_size: int = 200) -> Iterator[Account]:
        yield from self.find_by_attribute(name, value, max_results=10**9)

    def count_by_attribute(self, name: str, value: str) -> int:
        return len(self.find_by_attribute(name, value, max_results=10**9))

    def update_attributes(self, account_id: str, changes: dict[str, str | None]) -> Account:
        return self.update_account(account_id, attributes=changes)

    @contextlib.contextmanager
    def locked(self, account_id: str):
        from registro.kernel.records import RecordBusy

        self._check()
        with self._unique:
            lock = self._row_locks.setdefault(account_id, threading.Lock())
        if not lock.acquire(timeout=self.lock_wait_s):
            raise RecordBusy()
        try:
            yield _FakeLockedRecord(self, account_id, self.get_account(account_id))
        finally:
            lock.release()

    def update_account(self, account_id: str, *, enabled: bool | None = None, email_verified: bool | None = None,
                       attributes: dict[str, str | None] | None = None,
                       required_actions: list[str] | None = None, base: Account | None = None) -> Account:
        """Takes the row lock, unless this is the write of a `locked` record (which holds it): tests
        hook this method to make writes fail either way."""
        if not getattr(self._writing_held, "active", False):
            with self.locked(account_id) as held:
                return held.update(enabled=enabled, email_verified=email_verified, attributes=attributes,
                                   required_actions=required_actions)
        refused = profile_refusals(dict(attributes or {}))
        if refused:
            raise IdentityRejected("error-invalid-value", refused)
        # Read-merge-write under the row lock (the caller holds it): what another change could slip
        # into the window is kept out by the lock, not by luck.
        account = self._get(account_id)
        self.between_read_and_write(account_id)
        attrs = dict(account.attributes)
        for key, value in (attributes or {}).items():
            if value is None or value == "":
                attrs.pop(key, None)
            else:
                attrs[key] = value
        account = replace(account, attributes=attrs,
                          enabled=account.enabled if enabled is None else enabled,
                          email_verified=account.email_verified if email_verified is None else email_verified)
        if required_actions is not None:
            self.required_actions[account_id] = list(required_actions)
        self._get(account_id)  # the PUT of a deleted account is a 404
        rejected = attrs.get("estatus") == "rechazado" and self.applications is not None
        if rejected:
            self.applications._check()  # one transaction: the database down means nothing changes
        self.accounts[account_id] = account
        if rejected:
            from registro.kernel.records import REJECTED_IN_REVIEW

            self.applications._close(lambda i, a: a["account_id"] == account_id, "rechazada", REJECTED_IN_REVIEW,
                                     only=("activa",))
        return account

    def between_read_and_write(self, account_id: str) -> None:
        """Hook for tests that interleave another change into this one's read-merge-write window."""
        time.sleep(0)  # give other threads the window a real round trip gives them

    def delete_account(self, account_id: str) -> None:
        try:
            with self.locked(account_id) as held:
                held.delete_account()
        except AccountNotFound:
            # RecordedIdentity's delete: the record's side goes even when Keycloak has no such account
            # (deleted in its console) — Keycloak's 404 is no error there.
            self._forget_record(account_id)

    def _delete(self, account_id: str) -> None:
        self._check()
        self._forget_record(account_id)
        self.accounts.pop(account_id, None)
        self.roles.pop(account_id, None)
        self.memberships.pop(account_id, None)

    def _forget_record(self, account_id: str) -> None:
        """What RecordedIdentity's delete does in registro's database, in the same transaction: the live
        application cancelled, its identifiers released, its emails not yet delivered deleted."""
        if self.applications is not None:
            self.applications.cancel_account(account_id, "cuenta eliminada")

    def assign_realm_role(self, account_id: str, role_name: str) -> None:
        self._get(account_id)
        self._count("assign_realm_role")
        self.roles[account_id].add(role_name)

    def realm_roles_of(self, account_id: str) -> set[str]:
        """Effective, like Keycloak's role-mappings/realm/composite: direct, through groups, default."""
        self._get(account_id)
        through_groups = {r for g in self.memberships.get(account_id, ()) for r in self.groups.get(g, ())}
        return set(self.roles[account_id]) | through_groups | _DEFAULT_ROLES

    def password_set_at(self, account_id: str) -> float | None:
        self._get(account_id)
        return self.password_dates.get(account_id)

    def set_temporary_password(self, account_id: str, password: str) -> None:
        self._get(account_id)
        self.passwords[account_id] = (password, True)
        self.password_dates[account_id] = time.time()

    def send_actions_email(self, account_id: str, actions: list[str], *, client_id: str | None = None,
                           redirect_uri: str | None = None, lifespan_s: int | None = None) -> None:
        account = self._get(account_id)
        if not account.enabled:
            raise IdentityUnavailable("execute-actions-email falla con una cuenta deshabilitada")
        self.actions_emails.append((account_id, list(actions)))

    def ping(self) -> None:
        self._check()


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.down = False
        self.presigned: dict[str, tuple[str, int, float]] = {}  # url → (key, size, expiry)
        self.no_public_url = False  # as S3Store without S3_PUBLIC_URL
        self._lock = threading.Lock()  # conditional writes are atomic, as on a real S3

    @staticmethod
    def etag_of(data: bytes) -> str:
        return hashlib.md5(data).hexdigest()  # what S3 reports for a single-part upload

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("S3 no responde")

    def put(self, key: str, body: BinaryIO | bytes, *, content_type: str, metadata: dict[str, str] | None = None) -> None:
        self._check()
        data = body if isinstance(body, bytes) else body.read()
        self.objects[key] = (data, content_type, dict(metadata or {}))

    def _put_if_absent(self, key: str, body: bytes, *, content_type: str) -> bool:
        """What S3 does with a browser's presigned PUT that carries `If-None-Match: *`."""
        self._check()
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = (body, content_type, {})
            return True

    def get(self, key: str) -> bytes:
        self._check()
        if key not in self.objects:
            raise ObjectMissing(key)
        return self.objects[key][0]

    def open(self, key: str, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
        data = self.get(key)
        stream = io.BytesIO(data)
        return iter(lambda: stream.read(chunk_bytes), b"")

    def head(self, key: str) -> StoredObject:
        self._check()
        if key not in self.objects:
            raise ObjectMissing(key)
        data, content_type, metadata = self.objects[key]
        return StoredObject(key=key, size=len(data), content_type=content_type, metadata=metadata,
                            etag=self.etag_of(data))

    def delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)

    def list_keys(self, prefix: str) -> list[str]:
        self._check()
        return sorted(k for k in self.objects if k.startswith(prefix))

    def presigned_get(self, key: str, expires_s: int = 60) -> str:
        return f"memoria://{key}?expira={expires_s}"

    def presigned_put(self, key: str, size: int, expires_s: int) -> PresignedPut:
        self.public_url_missing_check()
        url = f"memoria://{key}?tamano={size}&expira={expires_s}&firma={secrets.token_hex(8)}"
        self.presigned[url] = (key, size, time.monotonic() + expires_s)
        return PresignedPut(url=url, headers={"Content-Type": "application/octet-stream", "If-None-Match": "*"})

    def public_url_missing_check(self) -> None:
        if self.no_public_url:
            raise StorageUnavailable("S3_PUBLIC_URL no está definida: los navegadores no llegan a S3")

    def browser_put(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        """What S3 answers a browser's PUT to a presigned URL: 403 for another size, an unsigned
        or changed header, or an expired URL; 412 once the key exists; 200 when stored."""
        self._check()
        grant = self.presigned.get(url)
        if grant is None:
            return 403
        key, size, expires = grant
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        if (len(body) != size or time.monotonic() > expires or sent.get("content-type") != "application/octet-stream"
                or sent.get("if-none-match") != "*"):
            return 403
        if not self._put_if_absent(key, body, content_type="application/octet-stream"):
            return 412
        return 200

    def ping(self) -> None:
        self._check()


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.down = False
        self.connections = 0  # connections a real relay would have seen from batches
        self.open_batches: list[FakeMailBatch] = []

    def send(self, email: OutgoingEmail) -> None:
        if self.down:
            raise MailUnavailable("SMTP no responde")
        self.sent.append(email)

    def batch(self) -> "FakeMailBatch":
        batch = FakeMailBatch(self)
        self.open_batches.append(batch)
        return batch

    def ping(self) -> None:
        if self.down:
            raise MailUnavailable("SMTP no responde")

    def to(self, address: str) -> list[OutgoingEmail]:
        return [m for m in self.sent if m.to == address]


class FakeMailBatch:
    """Messages through one (pretend) connection, opened at the first send like SmtpBatch's; each send
    behaves as FakeMailer.send, and a failed one drops the connection."""

    def __init__(self, mailer: FakeMailer) -> None:
        self.mailer = mailer
        self.connected = False

    def __enter__(self) -> "FakeMailBatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connected = False

    def send(self, email: OutgoingEmail) -> None:
        if self.mailer.down:
            self.connected = False
            raise MailUnavailable("SMTP no responde")
        if not self.connected:
            self.connected = True
            self.mailer.connections += 1
        self.mailer.send(email)


class FakeOutboxStore:
    """The outbox table in memory: rows held by a deliverer are skipped by others (SKIP LOCKED), a
    refused delivery counts an attempt and backs off, MAX_ATTEMPTS makes a row `fallido`, a held row
    waits for its release, an obsolete one is deleted."""

    def __init__(self, clock=time.time) -> None:
        from registro.platform import outbox

        self._outbox = outbox
        self.rows: dict[int, dict] = {}
        self.held: set[int] = set()
        self.lock = threading.Lock()
        self.clock = clock
        self.down = False
        self.applications = None  # the FakeApplicationStore sharing this "database" (account → application)
        self._ids = iter(range(1, 10**9))

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable

            raise DatabaseUnavailable("OperationalError")

    def _application_of(self, account_id):
        apps = self.applications.apps if self.applications is not None else {}
        return next((i for i, a in apps.items() if a["account_id"] == account_id), None)

    def insert(self, kind: str, message, application_id: str | None = None, *, account_id: str | None = None,
               hold_s: float = 0) -> int:
        """What `outbox.insert` does inside another store's transaction."""
        if application_id is None and account_id is not None:
            application_id = self._application_of(account_id)
        with self.lock:
            row_id = next(self._ids)
            self.rows[row_id] = {"kind": kind, "application_id": application_id,
                                 "message": self._outbox._message_bytes(message), "state": "pendiente", "attempts": 0,
                                 "due": self.clock() + max(0, hold_s), "last_error": "", "created_at": self.clock()}
            return row_id

    def add(self, kind: str, message, application_id: str | None = None, *, account_id: str | None = None,
            hold_s: float = 0) -> int:
        self._check()
        return self.insert(kind, message, application_id, account_id=account_id, hold_s=hold_s)

    def discard_unsent(self, application_ids) -> int:
        """What `outbox.discard_unsent` does inside another store's transaction: a row being delivered
        (held by `deliver_due`) is skipped, as SKIP LOCKED skips it."""
        wanted = set(application_ids)
        with self.lock:
            gone = [i for i, r in self.rows.items()
                    if r["application_id"] in wanted and r["state"] != "enviado" and i not in self.held]
            for row_id in gone:
                del self.rows[row_id]
        return len(gone)

    def deliver_due(self, deliver, limit: int = 20) -> tuple[int, int]:
        self._check()
        with self.lock:
            due = [i for i, r in sorted(self.rows.items(), key=lambda kv: (kv[1]["due"], kv[0]))
                   if r["state"] == "pendiente" and r["due"] <= self.clock() and i not in self.held][:limit]
            self.held.update(due)
        delivered = refused = 0
        try:
            for row_id in due:
                row = self.rows[row_id]
                try:
                    deliver(self._outbox.DueRow(row_id, row["kind"], row["message"], row["attempts"]))
                except self._outbox.Obsolete:
                    del self.rows[row_id]
                    continue
                except self._outbox.Unreadable:
                    row.update(state="fallido", last_error="ilegible")
                    continue
                except Exception as exc:  # noqa: BLE001 — as the real store: any refusal is counted
                    refused += 1
                    row["attempts"] += 1
                    row["last_error"] = self._outbox.refusal_reason(exc)
                    row["due"] = self.clock() + self._outbox.backoff_s(row["attempts"])
                    if row["attempts"] >= self._outbox.MAX_ATTEMPTS:
                        row["state"] = "fallido"
                    continue
                delivered += 1
                row.update(state="enviado", attempts=row["attempts"] + 1, message=b"")
        finally:
            with self.lock:
                self.held.difference_update(due)
        return delivered, refused

    def release(self, ids) -> None:
        self._check()
        for row_id in ids:
            row = self.rows.get(row_id)
            if row and row["state"] == "pendiente":
                row["due"] = min(row["due"], self.clock())

    def discard(self, ids) -> None:
        self._check()
        for row_id in ids:
            if row_id in self.rows and self.rows[row_id]["state"] == "pendiente":
                del self.rows[row_id]

    def pending_count(self) -> int:
        self._check()
        return sum(1 for r in self.rows.values() if r["state"] == "pendiente")

    def failed(self, limit: int = 100, *, account_id: str | None = None):
        from datetime import datetime, timezone

        self._check()
        apps = self.applications.apps if self.applications is not None else {}

        def listed(row_id: int, r: dict):
            app = apps.get(r["application_id"])  # the real store's outer join
            return self._outbox.FailedEmail(row_id, r["kind"], r["application_id"], r["attempts"], r["last_error"],
                                            datetime.fromtimestamp(r["created_at"], timezone.utc),
                                            app["account_id"] if app else None, app["intent"].folio if app else None)

        rows = [listed(i, r) for i, r in sorted(self.rows.items(), reverse=True) if r["state"] == "fallido"]
        return [f for f in rows if account_id is None or f.account_id == account_id][:limit]

    def retry(self, email_id: int):
        self._check()
        with self.lock:
            row = self.rows.get(email_id)
            if not row or row["state"] != "fallido":
                return None
            (before,) = [f for f in self.failed(len(self.rows)) if f.id == email_id]
            row.update(state="pendiente", attempts=0, due=self.clock())
            return before

    def retry_failed(self):
        self._check()
        with self.lock:
            before = list(reversed(self.failed(len(self.rows))))  # as they were, oldest first
            for f in before:
                self.rows[f.id].update(state="pendiente", attempts=0, due=self.clock())
            return before

    def health(self):
        self._check()
        now = self.clock()
        pending = [r for r in self.rows.values() if r["state"] == "pendiente"]
        waiting = [now - r["created_at"] for r in pending if r["attempts"] > 0 or r["due"] <= now]
        return self._outbox.OutboxHealth(len(pending), max(0.0, max(waiting, default=0.0)),
                                         sum(1 for r in self.rows.values() if r["state"] == "fallido"))

    def expedite(self) -> None:
        """Moves every back-off to now (what waiting would do); held rows stay held, as in the real store."""
        for row in self.rows.values():
            if row["state"] == "pendiente" and row["attempts"] > 0:
                row["due"] = min(row["due"], self.clock())

    def pass_hold(self) -> None:
        """Moves every held row's due time to now: what waiting out the hold would do."""
        for row in self.rows.values():
            if row["state"] == "pendiente":
                row["due"] = min(row["due"], self.clock())

    def of_kind(self, kind: str) -> list[dict]:
        return [r for r in self.rows.values() if r["kind"] == kind]


class FakeApplicationStore:
    """applications + identifiers in memory, with the partial unique index's rule: one holder per
    (kind, value) among identifiers still `vigente`; every change happens under one lock, as one
    transaction would."""

    def __init__(self, outbox_store: FakeOutboxStore | None = None, clock=time.time, audit_log=None) -> None:
        self.outbox_store = outbox_store or FakeOutboxStore(clock)
        self.outbox_store.applications = self
        self.audit_log = audit_log  # the FakeAuditLog `complete` writes its events to (one database)
        self.apps: dict[str, dict] = {}
        self.ids: list[dict] = []
        self.lock = threading.Lock()
        self.clock = clock
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable

            raise DatabaseUnavailable("OperationalError")

    def _holder(self, kind: str, value: str) -> dict | None:
        return next((r for r in self.ids if r["vigente"] and r["kind"] == kind and r["value"] == value), None)

    def begin(self, intent, ids) -> None:
        from registro.kernel.applications import FolioTaken, Holder, IdentifiersTaken

        self._check()
        with self.lock:
            if any(a["intent"].folio == intent.folio for a in self.apps.values()):
                raise FolioTaken()
            taken = [(k, self._holder(k, v)) for k, v in ids.items() if self._holder(k, v)]
            if taken:
                raise IdentifiersTaken([Holder(r["application_id"], k, self.apps[r["application_id"]]["state"],
                                               self.apps[r["application_id"]]["intent"].username,
                                               self.apps[r["application_id"]]["account_id"],
                                               self.clock() - self.apps[r["application_id"]]["created_at"])
                                        for k, r in taken])
            self.apps[intent.id] = {"intent": intent, "state": "creando", "account_id": None, "reason": "",
                                    "created_at": self.clock()}
            self.ids.extend({"application_id": intent.id, "kind": k, "value": v, "vigente": True} for k, v in ids.items())

    def complete(self, application_id, account_id, email, kind: str = "confirmacion", events=()) -> bool:
        self._check()
        if events and self.audit_log is None:
            raise AssertionError("FakeApplicationStore: events to write, but no audit_log shares its database")
        with self.lock:
            app = self.apps.get(application_id)
            if not app or app["state"] != "creando":
                return False
            if self.audit_log is not None:
                self.audit_log._check()  # one database: the audit trail down means this change fails whole
            app.update(state="activa", account_id=account_id)
            if email is not None:
                self.outbox_store.insert(kind, email, application_id)
            for event in events:
                if not self.audit_log.append(event):
                    raise AssertionError(f"event_id drawn twice: {event.event_id}")
            return True

    def _close(self, match, state: str, reason: str, only=("creando", "activa")) -> bool:
        self._check()
        closed = False
        with self.lock:
            for app_id, app in self.apps.items():
                if match(app_id, app) and app["state"] in only:
                    app.update(state=state, reason=reason, closed_ns=time.monotonic_ns())  # its updated_at
                    closed = True
                    for row in self.ids:
                        if row["application_id"] == app_id:
                            row["vigente"] = False
        return closed

    def cancel(self, application_id, reason) -> bool:
        return self._close(lambda i, a: i == application_id, "cancelada", reason, only=("creando",))

    def reject(self, account_id, reason) -> None:
        self._close(lambda i, a: a["account_id"] == account_id, "rechazada", reason)

    def cancel_account(self, account_id, reason) -> None:
        self._close(lambda i, a: a["account_id"] == account_id, "cancelada", reason)
        self.outbox_store.discard_unsent([i for i, a in self.apps.items() if a["account_id"] == account_id])

    def release(self, application_id, kind) -> None:
        self._check()
        with self.lock:
            for row in self.ids:
                if row["application_id"] == application_id and row["kind"] == kind:
                    row["vigente"] = False

    def stale_intents(self, older_than_s: float, limit: int = 100, after: tuple = ()):
        from registro.kernel.applications import StaleIntent

        self._check()
        now = self.clock()
        return [StaleIntent(a["intent"], now - a["created_at"], (a["created_at"], a["intent"].id)) for a in
                sorted(self.apps.values(), key=lambda a: (a["created_at"], a["intent"].id))
                if a["state"] == "creando" and now - a["created_at"] > older_than_s
                and (not after or (a["created_at"], a["intent"].id) > after)][:limit]

    def unfinished_count(self, older_than_s: float) -> int:
        return len(self.stale_intents(older_than_s, limit=10**9))

    def account_of_folio(self, folio: str) -> str | None:
        self._check()
        return next((a["account_id"] for a in self.apps.values()
                     if a["intent"].folio == folio.strip().upper() and a["state"] in ("activa", "rechazada")), None)

    def state_of_account(self, account_id: str, folio: str = "") -> str | None:
        self._check()
        state = self.state_of(account_id)
        if state is None and folio:
            state = next((a["state"] for a in self.apps.values() if a["intent"].folio == folio.strip().upper()), None)
        return state

    def rejections_of(self, ids) -> int:
        self._check()
        wanted = set(ids.items())
        return len({r["application_id"] for r in self.ids
                    if (r["kind"], r["value"]) in wanted and self.apps[r["application_id"]]["state"] == "rechazada"})

    def rejected_accounts(self, ids, limit: int = 10) -> list[str]:
        self._check()
        wanted = set(ids.items())
        held = {r["application_id"] for r in self.ids if (r["kind"], r["value"]) in wanted}
        rejected = [a for app_id, a in self.apps.items()
                    if app_id in held and a["state"] == "rechazada" and a["account_id"]]
        rejected.sort(key=lambda a: a.get("closed_ns", 0), reverse=True)  # the latest rejection first
        return [a["account_id"] for a in rejected[:limit]]

    def record_released(self, application_id, ids) -> None:
        self._check()
        with self.lock:
            self.ids.extend({"application_id": application_id, "kind": k, "value": v, "vigente": False}
                            for k, v in ids.items())

    def knows_account(self, account_id: str) -> bool:
        self._check()
        return any(a["account_id"] == account_id for a in self.apps.values())

    def adopt_record(self, account_id: str, *, email: str, first_name: str, last_name: str, attributes,
                     enabled: bool, email_verified: bool) -> None:
        self._check()
        with self.lock:
            for a in self.apps.values():
                if a["account_id"] == account_id:
                    a["record"] = {"email": email, "first_name": first_name, "last_name": last_name,
                                   "attributes": dict(attributes), "enabled": enabled,
                                   "email_verified": email_verified}

    def state_of(self, account_id: str) -> str | None:
        return next((a["state"] for a in self.apps.values() if a["account_id"] == account_id), None)

    def record(self, account_id: str, username: str, attributes: dict) -> str:
        """An application as registration leaves it (intent + identifiers, then `activa`)."""
        from registro.kernel.applications import Intent, identifiers_of

        intent = Intent.new(folio=attributes.get("folio", ""), username=username,
                            link_version=attributes.get("enlace_version", "v"),
                            es_extranjero=attributes.get("es_extranjero") == "true", locale=attributes.get("locale", ""))
        self.begin(intent, identifiers_of(attributes))
        self.complete(intent.id, account_id, None)
        return intent.id


class FakePhoneLinkStore:
    """phone_links in memory (documents/phone_links.py), with the table's rules: a token and a session open
    one row each, an open (neither used nor revoked) code one row; every change under one lock."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.lock = threading.Lock()
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable

            raise DatabaseUnavailable("OperationalError")

    @staticmethod
    def _link(row: dict):
        from registro.documents.phone_links import PhoneLink

        return PhoneLink(row["id"], row["account_id"], row["link_version"], row["expires_at"],
                         row["used_at"] is not None, row["uploaded_at"])

    def create(self, account_id, link_version, token_hash, code_hash, expires_at):
        from datetime import datetime, timezone

        from registro.documents.phone_links import CodeTaken

        self._check()
        now = datetime.now(timezone.utc)
        with self.lock:
            if any(r["code_hash"] == code_hash and r["used_at"] is None and r["revoked_at"] is None
                   for r in self.rows):
                raise CodeTaken()
            for row in self.rows:
                if row["account_id"] == account_id and row["revoked_at"] is None:
                    row["revoked_at"] = now
            row = {"id": len(self.rows) + 1, "account_id": account_id, "link_version": link_version,
                   "token_hash": token_hash, "code_hash": code_hash, "session_hash": None, "expires_at": expires_at,
                   "used_at": None, "revoked_at": None, "uploaded_at": None}
            self.rows.append(row)
            return self._link(row)

    def redeem(self, token_hash, code_hash, session_hash, now):
        self._check()
        with self.lock:
            for row in self.rows:
                match = row["token_hash"] == token_hash if token_hash else row["code_hash"] == code_hash
                if match and row["used_at"] is None and row["revoked_at"] is None and row["expires_at"] > now:
                    row.update(used_at=now, session_hash=session_hash)
                    return self._link(row)
            return None

    def session(self, session_hash, now):
        self._check()
        with self.lock:
            row = next((r for r in self.rows if r["session_hash"] == session_hash), None)
            if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
                return None
            return self._link(row)

    def uploaded(self, link_id, now):
        self._check()
        with self.lock:
            for row in self.rows:
                if row["id"] == link_id:
                    row["uploaded_at"] = now

    def current(self, account_id, now):
        self._check()
        with self.lock:
            open_rows = [r for r in self.rows if r["account_id"] == account_id and r["revoked_at"] is None
                         and r["expires_at"] > now]
            return self._link(open_rows[-1]) if open_rows else None

    def revoke(self, account_id, now):
        self._check()
        with self.lock:
            for row in self.rows:
                if row["account_id"] == account_id and row["revoked_at"] is None:
                    row["revoked_at"] = now


class FakeAuditLog:
    """kernel.audit.PgAuditLog's twin: append-only (an event is never changed), a taken event_id refused,
    reads ordered by time as the indexes give them."""

    def __init__(self) -> None:
        self.events: list[dict] = []  # the rows, in insertion order (the id)
        self.lock = threading.Lock()
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable
            raise DatabaseUnavailable("fake")

    def append(self, event) -> bool:
        from dataclasses import asdict

        from registro.kernel.audit import moment

        self._check()
        row = {"at": moment(event.at), "event": json.loads(json.dumps(asdict(event)))}
        with self.lock:
            if any(r["event"]["event_id"] == event.event_id for r in self.events):
                return False
            row["id"] = len(self.events)
            self.events.append(row)
        return True

    def _read(self, keep) -> list:
        from registro.kernel.audit import AuditEvent

        self._check()
        with self.lock:
            rows = [r for r in self.events if keep(r)]
        return [AuditEvent.from_dict(r["event"]) for r in sorted(rows, key=lambda r: (r["at"], r["id"]))]

    def of_account(self, account_id: str) -> list:
        return self._read(lambda r: r["event"]["account_id"] == account_id)

    def between(self, start, end, actions) -> list:
        return self._read(lambda r: start <= r["at"] < end and r["event"]["action"] in actions)


class FakeUsedSolutions:
    """platform.captcha_uses.PgUsedSolutions' twin: one use per signature, swept by expiry."""

    def __init__(self) -> None:
        self.uses: dict[str, object] = {}  # signature hash → expires_at (aware datetime)
        self.lock = threading.Lock()
        self.down = False

    def use(self, signature_sha256: str, expires_at) -> bool:
        if self.down:
            from registro.platform.db import DatabaseUnavailable
            raise DatabaseUnavailable("fake")
        with self.lock:  # the primary key: check and insert are one step
            if signature_sha256 in self.uses:
                return False
            self.uses[signature_sha256] = expires_at
            return True

    def forget_expired(self, now) -> int:
        with self.lock:
            old = [k for k, expires_at in self.uses.items() if expires_at < now]
            for k in old:
                del self.uses[k]
            return len(old)


def _forget_account(rows: dict, account_id: str) -> int:
    """Deletes the rows keyed (account_id, …) of one application; how many (a DELETE … WHERE account_id)."""
    gone = [k for k in rows if k[0] == account_id]
    for k in gone:
        del rows[k]
    return len(gone)


class FakeUploadMarkers:
    """documents.direct_uploads.PgUploadMarkers' twin: one marker per (application, document); the row's
    lock is a threading.Lock, each call one transaction; reads give copies (a row is a value, not an object
    callers could change in place)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict] = {}  # (account_id, kind) → the marker's JSON
        self.lock = threading.Lock()
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable
            raise DatabaseUnavailable("fake")

    def _marker(self, raw: dict | None):
        from registro.documents.direct_uploads import Marker

        return Marker.from_dict(json.loads(json.dumps(raw))) if raw is not None else None

    def get(self, account_id: str, kind: str):
        self._check()
        with self.lock:
            return self._marker(self.rows.get((account_id, kind)))

    def of_account(self, account_id: str) -> list:
        self._check()
        with self.lock:
            return [self._marker(raw) for (a, _), raw in sorted(self.rows.items()) if a == account_id]

    def mark(self, marker) -> str:
        from registro.documents.direct_uploads import ALREADY, LATER, MARKED

        self._check()
        receipt = marker.receipt
        with self.lock:
            current = self.rows.get((receipt.account_id, receipt.kind))
            if current is not None:
                if current["recibo"]["key"] == receipt.key:
                    return ALREADY
                if current["recibo"]["issued"] > receipt.issued:
                    return LATER
            self.rows[(receipt.account_id, receipt.kind)] = json.loads(json.dumps(marker.to_dict()))
            return MARKED

    def finish(self, receipt, state: str, message: str) -> bool:
        self._check()
        with self.lock:
            current = self.rows.get((receipt.account_id, receipt.kind))
            if current is None or current["recibo"]["key"] != receipt.key:
                return False
            current.update(estado=state, mensaje=message)
            return True

    def renew(self, marker, since: str) -> bool:
        self._check()
        with self.lock:
            current = self.rows.get((marker.receipt.account_id, marker.receipt.kind))
            if current is None or current["recibo"]["key"] != marker.receipt.key or current["desde"] != marker.since:
                return False
            current["desde"] = since
            return True

    def forget(self, account_id: str) -> int:
        self._check()
        with self.lock:
            return _forget_account(self.rows, account_id)


class FakeReadingStore:
    """documents.readings.PgReadingStore's twin: one reading per (application, document kind), each call one
    transaction; values are copied in and out (a JSONB column, not a shared object)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict] = {}
        self.lock = threading.Lock()
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable
            raise DatabaseUnavailable("fake")

    def keep(self, account_id: str, kind: str, reading: dict) -> None:
        self._check()
        if not (reading.get("documento") and reading.get("sha256")):
            raise ValueError("a reading names the document it read")  # NOT NULL columns
        with self.lock:
            self.rows[(account_id, kind)] = json.loads(json.dumps(reading))

    def get(self, account_id: str, kind: str) -> dict | None:
        self._check()
        with self.lock:
            found = self.rows.get((account_id, kind))
            return json.loads(json.dumps(found)) if found is not None else None

    def forget(self, account_id: str) -> int:
        self._check()
        with self.lock:
            return _forget_account(self.rows, account_id)


class FakeManifestStore:
    """review.page_views.PgManifestStore's twin: one manifest per document key, at the version it was made
    (another version reads as none, as the query's filter does), each call one transaction; values copied in
    and out (a JSONB column); a key outside an application refused (its account_id column is NOT NULL)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, dict]] = {}  # source_key → (account_id, version, manifest)
        self.lock = threading.Lock()
        self.down = False

    def _check(self) -> None:
        if self.down:
            from registro.platform.db import DatabaseUnavailable
            raise DatabaseUnavailable("fake")

    def keep(self, source_key: str, manifest: dict) -> None:
        from registro.domain.storage_keys import PAGE_VIEWS_VERSION, application_of

        self._check()
        account_id = application_of(source_key)
        with self.lock:
            self.rows[source_key] = (account_id, PAGE_VIEWS_VERSION, json.loads(json.dumps(manifest)))

    def get(self, source_key: str) -> dict | None:
        from registro.domain.storage_keys import PAGE_VIEWS_VERSION

        self._check()
        with self.lock:
            found = self.rows.get(source_key)
        if found is None or found[1] != PAGE_VIEWS_VERSION:
            return None
        return json.loads(json.dumps(found[2]))

    def forget(self, account_id: str) -> int:
        self._check()
        with self.lock:
            gone = [k for k, (owner, _, _) in self.rows.items() if owner == account_id]
            for key in gone:
                del self.rows[key]
            return len(gone)


class FakeLeaseStore:
    """review_leases in memory (review/leases.py), as strict as the table: one row per application,
    a claim decided under one lock with the statement's rule (released, expired or ours), every time
    from one clock (the "database's")."""

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.rows: dict = {}
        self.lock = threading.Lock()

    def claim(self, account_id, holder_id, holder_username, lease_s):
        from registro.review.leases import Lease

        with self.lock:
            now = self.clock()
            row = self.rows.get(account_id)
            if row is not None and not (row.released or row.expires_at < now or row.holder_id == holder_id):
                return None
            self.rows[account_id] = Lease(account_id, holder_id, holder_username, now, now + lease_s)
            return self.rows[account_id]

    def current(self, account_id):
        with self.lock:
            return self.rows.get(account_id)

    def active(self, account_id):
        with self.lock:
            row = self.rows.get(account_id)
            return row if row is not None and not row.released and row.expires_at > self.clock() else None

    def held(self, account_id, holder_id):
        row = self.active(account_id)
        return row if row is not None and row.holder_id == holder_id else None

    def release(self, account_id, holder_id):
        with self.lock:
            row = self.rows.get(account_id)
            now = self.clock()
            if row is None or row.holder_id != holder_id or row.released or row.expires_at <= now:
                return False
            self.rows[account_id] = replace(row, released=True, expires_at=now)
            return True

    def active_all(self):
        with self.lock:
            now = self.clock()
            return [r for r in self.rows.values() if not r.released and r.expires_at > now]


class FakeDecisionStore:
    """decisions in memory (review/decision_records.py): the unique (account, round), the conditional
    updates' rules, and a version that changes with every write — all under one lock, times from one clock."""

    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.rows: dict = {}  # (account_id, ronda) -> DecisionRow; its version is (updated_at, write number)
        self.lock = threading.Lock()
        self.writes = 0

    def _write(self, key, **changes):
        from registro.review.decision_records import DecisionRow

        self.writes += 1
        version = (self.clock(), self.writes)
        row = self.rows.get(key)
        row = DecisionRow(*key, "", "", {}, version) if row is None else row
        changes = {k: (json.loads(json.dumps(v)) if k == "record" else v) for k, v in changes.items()}
        self.rows[key] = replace(row, version=version, **changes)
        return self.rows[key]

    def _age(self, row) -> float:
        return self.clock() - row.version[0]

    def create(self, account_id, ronda, decision, record):
        from registro.review.decision_records import EN_CURSO

        with self.lock:
            if (account_id, ronda) in self.rows:
                return None
            return self._write((account_id, ronda), decision=decision, state=EN_CURSO, record=record)

    def take_over_stale(self, account_id, ronda, decision, record, stale_s):
        from registro.review.decision_records import EN_CURSO

        with self.lock:
            row = self.rows.get((account_id, ronda))
            if row is None or row.state != EN_CURSO or not self._age(row) > stale_s:
                return None
            return self._write((account_id, ronda), decision=decision, state=EN_CURSO, record=record)

    def get(self, account_id, ronda):
        with self.lock:
            return self.rows.get((account_id, ronda))

    def _owes(self, row, stale_decision_s, stale_completion_s) -> bool:
        from registro.review.decision_records import APLICADA, COMPLETANDO, EN_CURSO

        return row is not None and (
            (row.state == APLICADA and row.record.get("auditoria") == "pendiente")
            or (row.state == EN_CURSO and self._age(row) > stale_decision_s)
            or (row.state == COMPLETANDO and self._age(row) > stale_completion_s))

    def take_for_completion(self, account_id, ronda, stale_decision_s, stale_completion_s):
        from registro.review.decision_records import COMPLETANDO

        with self.lock:
            owed = self._owes(self.rows.get((account_id, ronda)), stale_decision_s, stale_completion_s)
            return self._write((account_id, ronda), state=COMPLETANDO) if owed else None

    def owed(self, stale_decision_s, stale_completion_s, limit=100):
        with self.lock:
            rows = sorted((r for r in self.rows.values() if self._owes(r, stale_decision_s, stale_completion_s)),
                          key=lambda r: r.version)
            return [(r.account_id, r.ronda) for r in rows[:limit]]

    def finish(self, row, record):
        from registro.review.decision_records import APLICADA

        with self.lock:
            current = self.rows.get((row.account_id, row.ronda))
            if current is None or current.version != row.version:
                return False
            self._write((row.account_id, row.ronda), state=APLICADA, record=record)
            return True

    def delete(self, row):
        with self.lock:
            current = self.rows.get((row.account_id, row.ronda))
            if current is not None and current.version == row.version:
                del self.rows[(row.account_id, row.ronda)]
