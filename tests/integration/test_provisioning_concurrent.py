"""Two provisionings at once against the live realm (issue 21, item 6): `make add-reviewer` while
`make run` provisions made `make run` exit with Keycloak's 409 "Policy … already exists". Both now
converge: the one that meets the conflict re-plans from the realm as the other left it."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from keycloak_ext.provisioning import ADMIN_PERMISSIONS, ADMIN_PERMISSIONS_CLIENT, ALLOW_POLICY, DENY_POLICY, RealmProvisioner

ROOT = Path(__file__).resolve().parents[2]
LEAST_PRIVILEGE = {ALLOW_POLICY, DENY_POLICY, *(p.name for p in ADMIN_PERMISSIONS)}


def _authz_url(kc_admin, rest: str) -> str:
    client = kc_admin.get_client_id(ADMIN_PERMISSIONS_CLIENT)
    return f"admin/realms/anam/clients/{client}/authz/resource-server/{rest}"


def _drop_least_privilege(kc_admin) -> None:
    """The state of a realm whose policies provisioning has still to create (as on a first start)."""
    for item in kc_admin.connection.raw_get(_authz_url(kc_admin, "policy"), max=-1).json():
        if item["name"] in LEAST_PRIVILEGE:
            response = kc_admin.connection.raw_delete(_authz_url(kc_admin, f"policy/{item['id']}"))
            assert response.status_code in (204, 404), response.text
    assert not LEAST_PRIVILEGE & {p["name"] for p in kc_admin.connection.raw_get(_authz_url(kc_admin, "policy"), max=-1).json()}


@pytest.fixture
def restored(kc_admin):
    yield
    RealmProvisioner(kc_admin).apply()  # whatever the test left, the next tests get the provisioned realm
    assert RealmProvisioner(kc_admin).plan() == []


class _PlansThenWaits(RealmProvisioner):
    """Plans, then waits for the other one to have planned too: both plans see the same missing
    policies, so both POST them and one of the two meets Keycloak's 409 — every time."""

    def __init__(self, admin, barrier: threading.Barrier) -> None:
        super().__init__(admin)
        self.barrier = barrier
        self.first = True
        self.conflicts = 0
        raw_post = admin.connection.raw_post

        def counting_post(*args, **kwargs):
            response = raw_post(*args, **kwargs)
            self.conflicts += response.status_code == 409
            return response
        admin.connection.raw_post = counting_post

    def plan(self):
        changes = super().plan()
        if self.first:
            self.first = False
            self.barrier.wait(timeout=60)
        return changes


def test_two_provisionings_that_planned_the_same_changes_both_converge(kc_settings, kc_admin, restored):
    from keycloak_ext import KeycloakGateway

    _drop_least_privilege(kc_admin)
    barrier = threading.Barrier(2)
    provisioners = [_PlansThenWaits(KeycloakGateway.for_bootstrap_admin(kc_settings).admin, barrier) for _ in range(2)]
    outcomes: list[object] = [None, None]

    def run(i: int) -> None:
        try:
            outcomes[i] = provisioners[i].apply()
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(o, list) for o in outcomes), outcomes
    assert sum(p.conflicts for p in provisioners) >= 1, "both planned the same policies: one must have met a 409"
    assert RealmProvisioner(kc_admin).plan() == [], "the realm converged"
    names = [p["name"] for p in kc_admin.connection.raw_get(_authz_url(kc_admin, "policy"), max=-1).json()]
    assert sorted(n for n in names if n in LEAST_PRIVILEGE) == sorted(LEAST_PRIVILEGE), "each policy once"


def _provision() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "keycloak_ext", "provision"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("round_", range(3))
def test_two_provision_commands_at_once_both_exit_0_and_check_is_clean(kc_admin, restored, round_):
    _drop_least_privilege(kc_admin)
    first, second = _provision(), _provision()
    for process in (first, second):
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"exit {process.returncode}: {err[-2000:]}"
    check = subprocess.run([sys.executable, "-m", "keycloak_ext", "check"], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert check.returncode == 0 and "sin diferencias" in check.stdout, check.stdout + check.stderr
