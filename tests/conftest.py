"""Fixtures shared by every layer of tests."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def unique() -> str:
    """A short token that keeps data of one test apart from every other run's."""
    return uuid.uuid4().hex[:10]


def pytest_addoption(parser):
    parser.addoption("--screens", default=None,
                     help="folder where the browser journeys also keep their representative screenshots")


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Every test starts with untouched rate limits. The stacks keep limits in Redis, shared by the
    served registro and every in-process app of the session (as replicas share them), so without this
    the registrations of earlier tests would spend the allowance of later ones. Tests run one at a
    time, so this alone isolates them: in-process apps need no key prefix of their own."""
    import os

    uri = os.environ.get("RATELIMIT_STORAGE_URI", "")
    if uri.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(uri)
        for key in client.scan_iter("LIMITS*"):
            client.delete(key)
        client.close()
    yield
