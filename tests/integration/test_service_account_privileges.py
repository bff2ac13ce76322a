"""Least privilege of the `registro-service` account against the real Keycloak (issue 11, item 1).

With the client secret alone (a `client_credentials` token — what leaks when a default secret
ships), the account can still do everything registration and review need on applicants, but it
is refused: granting `revisor`, granting any realm-management role (also to itself), putting an
account in any group but a user-type one (and changing an existing account's groups at all), and
resetting the password of, updating or deleting a reviewer or a supervisor."""
from __future__ import annotations

import json
import secrets

import pytest
from keycloak import KeycloakAdmin

from keycloak_ext import IdentityRejected
from keycloak_ext.catalog import REVIEWER_ROLE, SUPERVISOR_ROLE, USER_TYPE_SLUGS, USER_TYPES, group_path_of
from keycloak_ext.provisioning import RealmProvisioner

pytestmark = pytest.mark.integration


def _status(admin: KeycloakAdmin, method: str, path: str, payload=None) -> int:
    """The raw HTTP status of an admin REST call made with `admin`'s token."""
    url = f"admin/realms/{admin.connection.realm_name}/{path}"
    if method == "DELETE":
        return admin.connection.raw_delete(url).status_code
    call = {"POST": admin.connection.raw_post, "PUT": admin.connection.raw_put}[method]
    return call(url, data=json.dumps(payload)).status_code


@pytest.fixture
def gateway(keycloak_gateway):
    """These tests are about what Keycloak lets the service account do: Keycloak itself, not the
    service's RecordedIdentity (which writes application attributes to registro's database)."""
    return keycloak_gateway


def _staff_account(kc_admin, role: str):
    """A console account made by the admin, then protected (what `add-reviewer` does; a supervisor-only
    account is made in the admin console, and `provision` protects it)."""
    tag = secrets.token_hex(4)
    account_id = kc_admin.create_user({"username": f"{role}-privilegios-{tag}", "enabled": True,
                                       "email": f"{role}-privilegios-{tag}@anam.gob.mx",
                                       "firstName": "Rita", "lastName": "Revisora"})
    kc_admin.assign_realm_roles(account_id, [kc_admin.get_realm_role(role)])
    RealmProvisioner(kc_admin).protect_accounts()
    return account_id


@pytest.fixture
def reviewer(kc_admin):
    account_id = _staff_account(kc_admin, REVIEWER_ROLE)
    yield account_id
    kc_admin.delete_user(account_id)
    RealmProvisioner(kc_admin).protect_accounts()


@pytest.fixture
def supervisor(kc_admin):
    account_id = _staff_account(kc_admin, SUPERVISOR_ROLE)
    yield account_id
    kc_admin.delete_user(account_id)
    RealmProvisioner(kc_admin).protect_accounts()


def test_the_service_account_does_what_registration_and_review_need(gateway, kc_admin, unique):
    account_id = gateway.create_account(username=f"privilegios-{unique}", email=f"privilegios-{unique}@example.com",
                                        first_name="Ana", last_name="Pérez", attributes={"estatus": "pendiente_correo"},
                                        enabled=False, groups=(group_path_of(USER_TYPES[3].slug),))
    try:
        assert USER_TYPES[3].slug in gateway.realm_roles_of(account_id)  # through the group, in the create
        gateway.update_attributes(account_id, {"estatus": "en_revision"})
        for user_type in (USER_TYPES[0].slug, USER_TYPES[-1].slug):
            gateway.assign_realm_role(account_id, user_type)
        assert {USER_TYPES[0].slug, USER_TYPES[-1].slug} <= gateway.realm_roles_of(account_id)
        gateway.update_account(account_id, enabled=True)
        gateway.set_temporary_password(account_id, "Temporal-" + secrets.token_hex(6) + "!A1")
        assert gateway.get_account(account_id).attr("estatus") == "en_revision"
        assert gateway.count_by_attribute("estatus", "en_revision") >= 1
    finally:
        gateway.delete_account(account_id)
    with pytest.raises(Exception):
        kc_admin.get_user(account_id)  # the service could delete it


def test_the_service_account_cannot_make_or_touch_reviewers_nor_grant_administration(gateway, kc_admin, reviewer,
                                                                                  unique):
    applicant = gateway.create_account(username=f"escalada-{unique}", email=f"escalada-{unique}@example.com",
                                       first_name="Eva", last_name="Sion", attributes={}, enabled=True)
    try:
        # Grant revisor: refused, and the applicant indeed has no such role afterwards.
        with pytest.raises(IdentityRejected):
            gateway.assign_realm_role(applicant, REVIEWER_ROLE)
        assert REVIEWER_ROLE not in gateway.realm_roles_of(applicant)

        # Grant a realm-management role, to the applicant or to itself: refused at the mapping
        # call (the ids come from the admin, so the refusal is not a failed lookup).
        management = kc_admin.get_client_id("realm-management")
        service_user = kc_admin.get_client_service_account_user(kc_admin.get_client_id("registro-service"))["id"]
        for role_name in ("manage-users", "realm-admin"):
            role = kc_admin.get_client_role(management, role_name)
            for target in (applicant, service_user):
                status = _status(gateway.admin, "POST", f"users/{target}/role-mappings/clients/{management}",
                                 [{"id": role["id"], "name": role["name"]}])
                assert status == 403, (role_name, target)
        assert "manage-users" not in {r["name"] for r in kc_admin.get_client_roles_of_user(service_user, management)}

        # Touch a reviewer: reset the password, update, delete — all refused.
        with pytest.raises(IdentityRejected):
            gateway.set_temporary_password(reviewer, "Tomada-" + secrets.token_hex(6) + "!A1")
        with pytest.raises(IdentityRejected):
            gateway.update_attributes(reviewer, {"estatus": "aprobado"})
        assert _status(gateway.admin, "PUT", f"users/{reviewer}", {"email": f"atacante-{unique}@example.com"}) == 403
        with pytest.raises(IdentityRejected):
            gateway.delete_account(reviewer)
        assert kc_admin.get_user(reviewer)["email"].startswith("revisor-privilegios-")
        assert not kc_admin.get_credentials(reviewer)  # no password was set
    finally:
        gateway.delete_account(applicant)


def test_the_service_account_cannot_take_over_a_supervisor(gateway, kc_admin, supervisor, unique):
    """A supervisor-only account (the figures and the decisions' CSV) is staff too: with the service's secret
    alone its password cannot be set, nor its email (where a recovery link would go) changed, nor the account deleted."""
    with pytest.raises(IdentityRejected):
        gateway.set_temporary_password(supervisor, "Tomada-" + secrets.token_hex(6) + "!A1")
    assert _status(gateway.admin, "PUT", f"users/{supervisor}", {"email": f"atacante-{unique}@example.com"}) == 403
    with pytest.raises(IdentityRejected):
        gateway.delete_account(supervisor)
    assert kc_admin.get_user(supervisor)["email"].startswith("supervisor-privilegios-")
    assert not kc_admin.get_credentials(supervisor)


def test_provisioning_converges_and_is_idempotent_on_the_live_realm(kc_admin):
    provisioner = RealmProvisioner(kc_admin)
    provisioner.apply()
    assert provisioner.plan() == []
    assert provisioner.protect_accounts() == []


@pytest.fixture
def other_group(kc_admin, unique):
    """A group that is not a user type's, made by the admin — with `revisor` mapped to it, what an
    attacker would most like to join."""
    group_id = kc_admin.create_group({"name": f"ajeno-{unique}"})
    kc_admin.assign_group_realm_roles(group_id, [kc_admin.get_realm_role(REVIEWER_ROLE)])
    yield f"/ajeno-{unique}"
    kc_admin.delete_group(group_id)


def test_the_service_account_creates_accounts_in_user_type_groups_only(gateway, kc_admin, other_group, reviewer,
                                                                      unique):
    def create(n, groups):
        return gateway.create_account(username=f"grupos-{unique}-{n}", email=f"grupos-{unique}-{n}@example.com",
                                      first_name="Ana", last_name="Pérez", attributes={}, groups=groups)

    with pytest.raises(IdentityRejected):  # 403
        create(1, (other_group,))
    with pytest.raises(IdentityRejected):  # 403 too when a permitted group comes along, and nothing is created
        create(2, (group_path_of("mandatario"), other_group))
    assert not kc_admin.get_users({"username": f"grupos-{unique}", "max": 10})
    assert not kc_admin.get_group_members(kc_admin.get_group_by_path(other_group)["id"])

    applicant = create(3, (group_path_of("mandatario"),))
    try:
        assert gateway.realm_roles_of(applicant) & (USER_TYPE_SLUGS | {REVIEWER_ROLE}) == {"mandatario"}
        assert not {r["name"] for r in kc_admin.get_realm_roles_of_user(applicant)} & USER_TYPE_SLUGS  # no direct one
        # Memberships of existing accounts: none may be changed — not the applicant's, not a reviewer's.
        other_id = kc_admin.get_group_by_path(other_group)["id"]
        type_id = kc_admin.get_group_by_path(group_path_of("transportista"))["id"]
        mandatario_id = kc_admin.get_group_by_path(group_path_of("mandatario"))["id"]
        for target, group_id in ((applicant, other_id), (applicant, type_id), (reviewer, type_id)):
            assert _status(gateway.admin, "PUT", f"users/{target}/groups/{group_id}") == 403, (target, group_id)
        assert _status(gateway.admin, "DELETE", f"users/{applicant}/groups/{mandatario_id}") == 403
        assert [g["path"] for g in kc_admin.get_user_groups(applicant)] == [group_path_of("mandatario")]
        assert not kc_admin.get_user_groups(reviewer)
    finally:
        gateway.delete_account(applicant)
