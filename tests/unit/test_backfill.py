"""`python -m registro.ops.backfill`: applications that exist only in Keycloak get their row once."""
from __future__ import annotations

import pytest

from registro.kernel.applications import IdentifiersTaken, Intent, identifiers_of
from registro.ops.backfill import backfill
from tests.support.registration import CURP, RFC, random_person


def _account(fakes, username, estatus, folio, curp=CURP, rfc=RFC):
    return fakes.identity.create_account(username=username, email=f"{username}@example.com", first_name="Ana",
                                         last_name="Peña", attributes={"estatus": estatus, "folio": folio, "curp": curp,
                                                                       "rfc": rfc, "es_extranjero": "false"})


def test_accounts_made_before_the_database_get_their_rows_once(fakes):
    live = _account(fakes, "viva", "en_revision", "AU-2025-VIVA0001")
    other_curp, other_rfc = random_person()
    rejected = _account(fakes, "rechazada", "rechazado", "AU-2025-RECH0001", curp=other_curp, rfc=other_rfc)
    duplicate = _account(fakes, "doble", "aprobado", "AU-2025-DOBL0001")  # the same CURP and RFC as `live`
    fakes.identity.create_account(username="revisora", email="r@example.com", first_name="R", last_name="R",
                                  attributes={})  # staff: not an application
    assert backfill(fakes.identity, fakes.applications, dry_run=True).recorded == 3
    assert fakes.applications.apps == {}
    done = backfill(fakes.identity, fakes.applications)
    assert (done.seen, done.recorded, done.contested) == (3, 3, 1)
    assert fakes.applications.state_of(rejected) == "rechazada"
    # the reviewer's "Solicitudes anteriores" counts it, and it holds nothing
    assert fakes.applications.rejections_of({"curp": other_curp}) == 1
    fakes.applications.begin(Intent.new(folio="AU-2026-OTRA0001", username="otra", link_version="v",
                                        es_extranjero=False), {"curp": other_curp, "rfc": other_rfc})
    assert {fakes.applications.state_of(live), fakes.applications.state_of(duplicate)} == {"activa"}
    ids = identifiers_of(fakes.identity.get_account(live).attributes)
    with pytest.raises(IdentifiersTaken):  # the live holder's identifiers now guard registration
        fakes.applications.begin(Intent.new(folio="AU-2026-NUEVA001", username="n", link_version="v",
                                            es_extranjero=False), ids)
    assert backfill(fakes.identity, fakes.applications).recorded == 0  # idempotent
