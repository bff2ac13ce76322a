"""Fakes and real adapters implement the same Protocols, method by method, signature by signature."""
import inspect

import pytest

from keycloak_ext import KeycloakGateway
from registro.adapters.identity import IdentityDirectory
from registro.adapters.mail import MailBatch, Mailer, SmtpBatch, SmtpMailer
from registro.adapters.storage import ObjectStore, S3Store
from registro.adapters.sessions import ConsoleSessions, MemorySessions, RedisSessions
from registro.workflow.queue_index import IndexBackend, MemoryBackend, RedisBackend
from tests.fakes import FakeIdentity, FakeMailBatch, FakeMailer, FakeStore


def protocol_methods(protocol) -> list[str]:
    return [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize("protocol, real, fake", [
    (IdentityDirectory, KeycloakGateway, FakeIdentity),
    (ObjectStore, S3Store, FakeStore),
    (Mailer, SmtpMailer, FakeMailer),
    (MailBatch, SmtpBatch, FakeMailBatch),
    (IndexBackend, RedisBackend, MemoryBackend),
    (ConsoleSessions, RedisSessions, MemorySessions),
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
