"""Fakes and real adapters implement the same Protocols, method by method, signature by signature."""
import inspect

import pytest

from keycloak_ext import KeycloakGateway
from registro.adapters.identity import IdentityDirectory
from registro.adapters.mail import MailBatch, Mailer, SmtpBatch, SmtpMailer
from registro.adapters.storage import ObjectStore, S3Store
from registro.kernel.records import RecordDirectory, RecordedIdentity
from registro.adapters.sessions import ConsoleSessions, MemorySessions, RedisSessions
from registro.review.queue import PgQueueIndex, QueueIndex
from registro.documents.readings import PgReadingStore, ReadingStore
from registro.review.page_views import ManifestStore, PgManifestStore
from tests.fake_queue import FakeQueueIndex
from tests.fakes import FakeIdentity, FakeMailBatch, FakeMailer, FakeManifestStore, FakeReadingStore, FakeStore


def protocol_methods(protocol) -> list[str]:
    return [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize("protocol, real, fake", [
    (IdentityDirectory, KeycloakGateway, FakeIdentity),
    (RecordDirectory, RecordedIdentity, FakeIdentity),
    (ObjectStore, S3Store, FakeStore),
    (Mailer, SmtpMailer, FakeMailer),
    (MailBatch, SmtpBatch, FakeMailBatch),
    (QueueIndex, PgQueueIndex, FakeQueueIndex),
    (ConsoleSessions, RedisSessions, MemorySessions),
    (ReadingStore, PgReadingStore, FakeReadingStore),
    (ManifestStore, PgManifestStore, FakeManifestStore),
])
def test_real_and_fake_share_the_protocol(protocol, real, fake):
    methods = protocol_methods(protocol)
    assert methods, "the protocol declares methods"
    for name in methods:
        expected = inspect.signature(getattr(protocol, name))
        for implementation in (real, fake):
            actual = inspect.signature(getattr(implementation, name))
            assert list(actual.parameters) == list(expected.parameters), f"{implementation.__name__}.{name}"
            for pname, param in expected.parameters.items():
                assert actual.parameters[pname].kind == param.kind, f"{implementation.__name__}.{name}({pname})"


# --- the fake identity's groups behave like Keycloak 26.7's (tried against the stack's Keycloak) ------------
def _create(identity, n, groups):
    return identity.create_account(username=f"g{n}", email=f"g{n}@example.com", first_name="Ana", last_name="Ruiz",
                                   attributes={}, groups=groups)


def test_fake_identity_refuses_groups_like_keycloak():
    from keycloak_ext import IdentityRejected, IdentityUnavailable

    identity = FakeIdentity()
    with pytest.raises(IdentityUnavailable):  # unknown path: Keycloak answers 500, creates nothing
        _create(identity, 1, ("/no-existe",))
    identity.groups["/otro"] = {"revisor"}  # a group the service account may not manage the membership of
    with pytest.raises(IdentityRejected):  # 403, creates nothing — even next to a permitted one
        _create(identity, 2, ("/tipo-mandatario", "/otro"))
    assert not identity.accounts


def test_fake_identity_roles_through_groups_are_effective_and_direct_ones_stay_direct():
    identity = FakeIdentity()
    in_group = _create(identity, 1, ("/tipo-mandatario",))
    direct = _create(identity, 2, ())
    identity.assign_realm_role(direct, "transportista")
    assert {"mandatario", "default-roles-anam"} <= identity.realm_roles_of(in_group)
    assert identity.roles[in_group] == set()
    assert "transportista" in identity.realm_roles_of(direct) and "mandatario" not in identity.realm_roles_of(direct)
