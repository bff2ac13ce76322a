"""The user-type catalog is the single source: the realm files must agree with it."""
import pytest

from keycloak_ext.catalog import (CONSOLE_STAFF_ROLE, REVIEWER_ROLE, STATUSES, SUPERVISOR_ROLE, USER_TYPES, group_of,
                                  group_path_of)
from keycloak_ext.provisioning import catalog_mismatches
from keycloak_ext.realm_files import load_realm, load_user_profile, render_import, resolve_placeholders


def test_eleven_user_types_with_unique_slugs():
    assert len(USER_TYPES) == 11
    assert len({t.slug for t in USER_TYPES}) == 11
    assert all(t.slug.isidentifier() and t.slug.islower() for t in USER_TYPES)


def test_realm_files_agree_with_catalog():
    assert catalog_mismatches(load_realm(), load_user_profile()) == []


def test_catalog_check_catches_a_missing_role():
    realm = load_realm()
    realm["roles"]["realm"] = [r for r in realm["roles"]["realm"] if r["name"] != "transportista"]
    assert "falta el rol transportista" in catalog_mismatches(realm, load_user_profile())


def test_both_console_roles_carry_the_role_the_second_factor_is_asked_of():
    """The browser flow's condition names CONSOLE_STAFF_ROLE: a console role without it would log in with
    the password alone."""
    realm = load_realm()
    config = next(c for c in realm["authenticatorConfig"] if "condUserRole" in c["config"])
    assert config["config"]["condUserRole"] == CONSOLE_STAFF_ROLE
    supervisor = next(r for r in realm["roles"]["realm"] if r["name"] == SUPERVISOR_ROLE)
    supervisor.pop("composites")
    assert f"el rol {SUPERVISOR_ROLE} debe incluir {CONSOLE_STAFF_ROLE}" in catalog_mismatches(realm, load_user_profile())


def test_one_group_per_user_type_named_by_one_rule():
    assert group_of("mandatario") == "tipo-mandatario" and group_path_of("mandatario") == "/tipo-mandatario"
    assert len({group_of(t.slug) for t in USER_TYPES}) == 11
    with pytest.raises(ValueError):
        group_of(REVIEWER_ROLE)  # no group ever carries a staff role


def test_realm_file_groups_carry_exactly_their_user_type_role():
    groups = {g["name"]: g for g in load_realm()["groups"]}
    assert set(groups) == {group_of(t.slug) for t in USER_TYPES}
    assert all(groups[group_of(t.slug)]["realmRoles"] == [t.slug] for t in USER_TYPES)


def test_catalog_check_catches_a_missing_a_wrong_and_an_extra_group():
    realm = load_realm()
    realm["groups"] = [g for g in realm["groups"] if g["name"] != "tipo-transportista"]
    next(g for g in realm["groups"] if g["name"] == "tipo-mandatario")["realmRoles"].append(REVIEWER_ROLE)
    realm["groups"].append({"name": "otros", "path": "/otros", "realmRoles": []})
    problems = catalog_mismatches(realm, load_user_profile())
    assert "falta el grupo tipo-transportista" in problems
    assert "el grupo tipo-mandatario debe llevar solo el rol mandatario" in problems
    assert "grupo sin tipo de usuario: otros" in problems


def test_profile_declares_every_attribute_of_the_spec():
    names = {a["name"] for a in load_user_profile()["attributes"]}
    for name in ("curp", "rfc", "tipo_usuario", "es_extranjero", "tax_id", "pasaporte", "pais", "estado",
                 "localidad", "colonia", "codigo_postal", "numero_exterior", "calle", "estatus"):
        assert name in names


def test_users_can_view_but_not_edit_identity_and_status():
    attrs = {a["name"]: a for a in load_user_profile()["attributes"]}
    for name in ("curp", "rfc", "tipo_usuario", "estatus"):
        assert "user" in attrs[name]["permissions"]["view"]
        assert attrs[name]["permissions"]["edit"] == ["admin"]


def test_statuses_and_reviewer_role():
    assert STATUSES[0] == "pendiente_correo" and "aprobado" in STATUSES
    assert REVIEWER_ROLE in {r["name"] for r in load_realm()["roles"]["realm"]}


def test_placeholders_resolve_like_keycloak():
    assert resolve_placeholders("${SMTP_HOST:127.0.0.1}", {}) == "127.0.0.1"
    assert resolve_placeholders("${SMTP_HOST:127.0.0.1}", {"SMTP_HOST": "relay"}) == "relay"
    assert resolve_placeholders("${username}", {}) == "${username}"


def test_import_file_embeds_the_user_profile():
    realm = render_import()
    component = realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    assert '"curp"' in component["config"]["kc.user.profile.config"][0]
    assert realm["registrationAllowed"] is False and realm["resetPasswordAllowed"] is False


# --- issue 11, item 11: REVISOR_OTP=DISABLED must not lock reviewers out ------------------------
def _otp_subflow_requirement(realm: dict) -> str:
    forms = next(f for f in realm["authenticationFlows"] if f["alias"] == "navegador-anam formularios")
    return next(e["requirement"] for e in forms["authenticationExecutions"] if e.get("authenticatorFlow"))


def test_disabled_reviewer_otp_disables_its_conditional_subflow():
    assert _otp_subflow_requirement(load_realm(env={"REVISOR_OTP": "DISABLED"})) == "DISABLED"
    assert _otp_subflow_requirement(load_realm(env={})) == "CONDITIONAL"
    assert _otp_subflow_requirement(load_realm(env={"REVISOR_OTP": "REQUIRED"})) == "CONDITIONAL"


def test_rendered_import_disables_the_subflow_too(monkeypatch):
    monkeypatch.setenv("REVISOR_OTP", "DISABLED")
    assert _otp_subflow_requirement(render_import()) == "DISABLED"
    monkeypatch.delenv("REVISOR_OTP")
    assert _otp_subflow_requirement(render_import()) == "CONDITIONAL"
