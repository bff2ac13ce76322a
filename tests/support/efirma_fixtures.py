"""The pytest fixtures every e.firma test module shares: a test CA shaped like SAT's and a local OCSP
responder for it, one of each per module. A module uses them by importing them (pytest finds fixtures in
the module's namespace)."""
from __future__ import annotations

import pytest

from tests.support.efirma_pki import SatTestCA
from tests.support.ocsp_responder import OcspResponder


@pytest.fixture(scope="module")
def sat() -> SatTestCA:
    return SatTestCA.create()


@pytest.fixture(scope="module")
def responder(sat):
    with OcspResponder(sat) as r:
        yield r
