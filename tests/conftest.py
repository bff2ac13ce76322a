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
