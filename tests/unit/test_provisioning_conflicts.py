"""Two provisionings at once (`make add-reviewer` while `make run` provisions): the second to create a
policy gets Keycloak's 409 "Policy with name … already exists". Provisioning re-plans from the live
realm and converges instead of failing (issue 21, item 6).

Keycloak's admin API is faked at the HTTP level (`responses`) under the real python-keycloak client,
so the 409 is raised exactly as python-keycloak raises it against a live server."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError

from keycloak_ext.catalog import REVIEWER_ROLE, SUPERVISOR_ROLE, USER_TYPES, group_of
from keycloak_ext.errors import IdentityUnavailable
from keycloak_ext.provisioning import (ADMIN_PERMISSIONS, ADMIN_PERMISSIONS_CLIENT, ALLOW_POLICY, DENY_POLICY,
                                       MAX_CONFLICTS, SERVICE_CLIENT, RealmProvisioner)

SERVER = "http://kc.test/"
REALM = {"realm": "anam", "adminPermissionsEnabled": True, "users": []}


class FakeKeycloak:
    """The admin endpoints least privilege reads and writes, with state. `race` runs just before a
    POST is answered: what a concurrent provisioning did a moment earlier."""

    def __init__(self) -> None:
        self.clients = {ADMIN_PERMISSIONS_CLIENT: "c-perm", SERVICE_CLIENT: "c-svc", "realm-management": "c-mgmt"}
        self.policies: dict[str, dict] = {}
        self.permissions: dict[str, dict] = {}
        self.race = lambda method, path, body: None
        self.conflicts = 0

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add(responses.POST, f"{SERVER}realms/master/protocol/openid-connect/token",
                 json={"access_token": "t", "refresh_token": "r", "expires_in": 300, "refresh_expires_in": 1800})
        for method in (responses.GET, responses.POST, responses.PUT):
            rsps.add_callback(method, re.compile(rf"{re.escape(SERVER)}admin/realms/anam/.*"), callback=lambda request: self.answer(request))

    def create_policy(self, body: dict) -> dict:
        policy = {"id": f"p-{len(self.policies)}", "name": body["name"], "type": "user", "logic": body["logic"],
                  "config": {"users": json.dumps(body["users"])}}
        self.policies[body["name"]] = policy
        return policy

    def create_permission(self, body: dict) -> dict:
        permission = {**body, "id": f"s-{len(self.permissions)}"}
        self.permissions[body["name"]] = permission
        return permission

    def answer(self, request):
        url = urlparse(request.url)
        path = url.path.removeprefix("/admin/realms/anam/")
        query = parse_qs(url.query)
        body = json.loads(request.body) if request.body else None
        if request.method == "POST":
            self.race(request.method, path, body)
        authz = "clients/c-perm/authz/resource-server/"
        if int(query.get("first", ["0"])[0]) > 0:
            return 200, {}, "[]"  # python-keycloak's pagination: the page after the last
        if path == "clients":
            cid = query["clientId"][0]
            return self._json([{"id": self.clients[cid], "clientId": cid}] if cid in self.clients else [])
        if path == "clients/c-svc/service-account-user":
            return self._json({"id": "u-svc", "username": "service-account-registro-service"})
        if path == "groups":
            return self._json([{"id": f"g-{t.slug}", "name": group_of(t.slug)} for t in USER_TYPES])
        if path == f"roles/{REVIEWER_ROLE}/users":
            return self._json([{"id": "u-revisor"}])
        if path == f"roles/{SUPERVISOR_ROLE}/users":
            return self._json([{"id": "u-supervisor"}])
        if path == "clients/c-mgmt/roles":
            return self._json([{"id": "r-manage-users", "name": "manage-users"}])
        if path.startswith("clients/c-mgmt/roles/") and path.endswith("/users"):
            return self._json([])
        if path.startswith("roles/"):
            name = path.split("/")[1]
            return self._json({"id": f"role-{name}", "name": name})
        if not path.startswith(authz):
            return 404, {}, json.dumps({"error": f"not faked: {request.method} {path}"})
        rest = path.removeprefix(authz)
        if request.method == "GET" and rest == "policy":
            return self._json(list(self.policies.values()))
        if request.method == "GET" and rest == "permission":
            return self._json(list(self.permissions.values()))
        if request.method == "POST" and rest == "policy/user":
            if body["name"] in self.policies:
                self.conflicts += 1
                return 409, {}, json.dumps({"errorMessage": f"Policy with name [{body['name']}] already exists"})
            return self._json(self.create_policy(body), 201)
        if request.method == "POST" and rest == "permission/scope":
            if body["name"] in self.permissions:
                self.conflicts += 1
                return 409, {}, json.dumps({"errorMessage": f"Policy with name [{body['name']}] already exists"})
            return self._json(self.create_permission(body), 201)
        match = re.fullmatch(r"policy/(s-\d+)/(resources|scopes|associatedPolicies)", rest)
        if request.method == "GET" and match:
            permission = next(p for p in self.permissions.values() if p["id"] == match[1])
            if match[2] == "resources":
                names = permission["resources"] or [permission["resourceType"]]
                return self._json([{"name": n} for n in names])
            if match[2] == "scopes":
                return self._json([{"name": n} for n in permission["scopes"]])
            return self._json([{"id": i} for i in permission["policies"]])
        return 404, {}, json.dumps({"error": f"not faked: {request.method} {path}"})

    @staticmethod
    def _json(data, status: int = 200):
        return status, {"Content-Type": "application/json"}, json.dumps(data)


@pytest.fixture
def keycloak():
    fake = FakeKeycloak()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake


def _provisioner() -> RealmProvisioner:
    conn = KeycloakOpenIDConnection(server_url=SERVER, realm_name="anam", user_realm_name="master",
                                    client_id="admin-cli", username="admin", password="x")
    return RealmProvisioner(KeycloakAdmin(connection=conn), realm=REALM, profile={"attributes": []})


def _everything_created_by_the_other(fake: FakeKeycloak):
    """The other provisioning wins every race: it creates all policies and permissions just before
    this one's first POST arrives."""
    def race(method, path, body):
        if fake.policies:
            return
        for name, logic in ((ALLOW_POLICY, "POSITIVE"), (DENY_POLICY, "NEGATIVE")):
            fake.create_policy({"name": name, "logic": logic, "users": ["u-svc"]})
        ids = {name: p["id"] for name, p in fake.policies.items()}
        wanted = {"todos": [], "cuentas protegidas": sorted({"u-revisor", "u-supervisor", "u-svc"}),
                  "roles de tipo de usuario": sorted(f"role-{t.slug}" for t in USER_TYPES),
                  "grupos de tipo de usuario": sorted(f"g-{t.slug}" for t in USER_TYPES)}
        for p in ADMIN_PERMISSIONS:
            fake.create_permission({"name": p.name, "type": "scope", "resourceType": p.resource_type,
                                    "resources": wanted[p.resources], "scopes": list(p.scopes),
                                    "policies": [ids[p.policy]], "decisionStrategy": "UNANIMOUS", "logic": "POSITIVE"})
    return race


def test_a_policy_created_meanwhile_by_another_provisioning_is_re_planned_not_fatal(keycloak):
    keycloak.race = _everything_created_by_the_other(keycloak)
    applied = _provisioner().protect_accounts()
    assert keycloak.conflicts == 1, "the fake must really have answered 409 once"
    assert applied == [], "the other provisioning made every change: nothing is left to this one"
    assert _provisioner().protect_accounts() == [], "and the realm is converged"


def test_conflicts_mid_way_converge_to_the_same_realm_as_one_provisioning_alone(keycloak):
    """The other provisioning is one step ahead on each permission: half of this one's POSTs meet a 409."""
    def race(method, path, body):
        if path.endswith("permission/scope") and body["name"] == ADMIN_PERMISSIONS[1].name:
            keycloak.create_permission({**body})
    keycloak.race = race
    applied = _provisioner().protect_accounts()
    assert keycloak.conflicts == 1
    assert sorted(keycloak.permissions) == sorted(p.name for p in ADMIN_PERMISSIONS)
    assert sorted(keycloak.policies) == sorted([ALLOW_POLICY, DENY_POLICY])
    assert f"permiso {ADMIN_PERMISSIONS[1].name}" not in applied
    assert _provisioner().protect_accounts() == []


def test_a_conflict_that_never_clears_gives_up_with_a_clear_error(keycloak):
    keycloak.race = lambda method, path, body: None
    keycloak.policies[ALLOW_POLICY] = {"id": "hidden", "name": ALLOW_POLICY}  # a POST meets it, a GET never lists it
    real_answer = keycloak.answer

    def hide_policy(request):
        status, headers, text = real_answer(request)
        if request.method == "GET" and "authz/resource-server/policy" in request.url and status == 200:
            text = json.dumps([p for p in json.loads(text) if p["id"] != "hidden"])
        return status, headers, text
    keycloak.answer = hide_policy
    with pytest.raises(IdentityUnavailable, match="conflictos seguidos"):
        _provisioner().protect_accounts()
    assert keycloak.conflicts == MAX_CONFLICTS + 1


def test_other_errors_are_not_retried(keycloak):
    def forbidden(request):
        if request.method == "POST":
            keycloak.conflicts += 1
            return 403, {}, json.dumps({"error": "forbidden"})
        return FakeKeycloak.answer(keycloak, request)
    keycloak.answer = forbidden
    with pytest.raises(KeycloakError) as err:
        _provisioner().protect_accounts()
    assert err.value.response_code == 403
    assert keycloak.conflicts == 1, "a refusal is not a conflict: one attempt only"
