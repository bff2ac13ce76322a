"""The foundation: realm, service account, OIDC claims, provisioning, S3 and the mail catcher."""
from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from keycloak_ext import IdentityRejected, IdentityUnavailable, USER_TYPES
from keycloak_ext.catalog import USER_TYPE_SLUGS, group_of, group_path_of
from keycloak_ext.provisioning import RealmProvisioner
from tests.support import oidc

ROOT = Path(__file__).resolve().parents[2]


def test_realm_imported_with_every_role(kc_admin):
    realm = kc_admin.get_realm("anam")
    assert realm["defaultLocale"] == "es" and realm["loginTheme"] == "anam" and realm["emailTheme"] == "anam"
    assert realm["registrationAllowed"] is False and realm["resetPasswordAllowed"] is False
    assert realm["bruteForceProtected"] is True and "length(12)" in realm["passwordPolicy"]
    # Events are kept in Keycloak's database for audit; none goes to the log (usernames are RFCs).
    assert realm["eventsEnabled"] is True and realm["adminEventsEnabled"] is True
    assert realm.get("eventsListeners") == []
    roles = {r["name"] for r in kc_admin.get_realm_roles()}
    assert {t.slug for t in USER_TYPES} | {"revisor"} <= roles


def test_user_profile_refuses_a_malformed_curp(make_account):
    with pytest.raises(IdentityRejected) as err:
        make_account(attributes={"curp": "NO-ES-UNA-CURP", "tipo_usuario": "agente_aduanal"})
    assert "CURP" in err.value.detail


def test_service_account_creates_disabled_user_assigns_role_and_enables(gateway, make_account):
    account_id = make_account(attributes={"curp": "PELA800101MDFRPN09", "tipo_usuario": "transportista",
                                          "estatus": "pendiente_correo", "es_extranjero": "false"})
    account = gateway.get_account(account_id)
    assert account.enabled is False
    assert account.attr("curp") == "PELA800101MDFRPN09" and account.attr("estatus") == "pendiente_correo"
    gateway.assign_realm_role(account_id, "transportista")
    assert "transportista" in gateway.realm_roles_of(account_id)
    gateway.update_account(account_id, enabled=True, attributes={"estatus": "aprobado"})
    after = gateway.get_account(account_id)
    assert after.enabled is True and after.attr("estatus") == "aprobado"
    assert after.attr("curp") == "PELA800101MDFRPN09", "GET-merge-PUT must keep the other attributes"


@pytest.mark.parametrize("held", ["group", "direct"])
def test_enabled_user_logs_in_and_token_carries_type_and_claims(stack, kc_admin, make_account, unique, held):
    """`group`: as registration creates accounts now (the role through the user type's group);
    `direct`: as accounts registered before the groups hold it (SPEC §10 for both)."""
    account_id = make_account(enabled=True, role="agente_aduanal" if held == "direct" else None,
                              groups=(group_path_of("agente_aduanal"),) if held == "group" else (),
                              first_name="Lucía", last_name="Núñez",
                              attributes={"curp": "NUNL900215MDFXXC04", "rfc": "NUNL900215AB1",
                                          "tipo_usuario": "agente_aduanal", "es_extranjero": "false",
                                          "estatus": "aprobado"})
    kc_admin.update_user(account_id, {"emailVerified": True})
    password = "Clave-Segura-2026!"
    kc_admin.set_user_password(account_id, password, temporary=False)
    tokens = oidc.login(stack.keycloak_url, "modulo-ejemplo", os.environ.get("MODULO_CLIENT_SECRET", "modulo-local-secret"),
                        f"{stack.modulo_url}/callback", f"prueba-{unique}-0", password)
    claims = oidc.claims_of(tokens["access_token"])
    assert claims["tipo_usuario"] == "agente_aduanal"
    assert claims["curp"] == "NUNL900215MDFXXC04" and claims["rfc"] == "NUNL900215AB1"
    assert claims["es_extranjero"] is False
    assert claims["nombre"] == "Lucía"
    assert claims["family_name"] == "Núñez" and claims["sub"] == account_id
    assert "agente_aduanal" in claims["realm_roles"]
    assert "agente_aduanal" in claims["realm_access"]["roles"]
    assert set(claims["realm_roles"]) & USER_TYPE_SLUGS == {"agente_aduanal"}


def _keycloak_ext(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "keycloak_ext", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_provision_is_idempotent_and_check_detects_drift(kc_admin):
    first = _keycloak_ext("provision")
    assert first.returncode == 0, first.stderr
    assert RealmProvisioner(kc_admin).plan() == [], "a second provision must find nothing to change"
    clean = _keycloak_ext("check")
    assert clean.returncode == 0 and "sin diferencias" in clean.stdout

    role = kc_admin.get_realm_role("mandatario")
    kc_admin.update_realm_role("mandatario", {**role, "description": "cambiada a mano"})
    drift = _keycloak_ext("check")
    assert drift.returncode == 1 and "actualizar rol mandatario" in drift.stdout

    assert _keycloak_ext("provision").returncode == 0
    assert kc_admin.get_realm_role("mandatario")["description"] == "Mandatario"
    assert _keycloak_ext("check").returncode == 0


def test_s3_put_get_presign_and_survives_a_restart(s3, stack, unique):
    key = f"pruebas/{unique}/hola.txt"
    s3.put_object(Bucket=stack.s3_bucket, Key=key, Body=b"hola S3", Metadata={"sha256": "abc"})
    assert s3.get_object(Bucket=stack.s3_bucket, Key=key)["Body"].read() == b"hola S3"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": stack.s3_bucket, "Key": key}, ExpiresIn=60)
    assert requests.get(url, timeout=5).content == b"hola S3"

    from tools.stack.profiles import Profile
    from tools.stack.runner import Stack

    test_stack = Stack(Profile.named("test"))
    test_stack.stop("s3")
    with pytest.raises(Exception):
        s3.head_object(Bucket=stack.s3_bucket, Key=key)
    test_stack.start("s3")
    test_stack.wait_ready("s3")
    head = s3.head_object(Bucket=stack.s3_bucket, Key=key)
    assert head["Metadata"]["sha256"] == "abc"
    assert s3.get_object(Bucket=stack.s3_bucket, Key=key)["Body"].read() == b"hola S3"


def test_a_create_into_a_group_the_realm_lacks_names_the_fix_and_creates_nothing(gateway, unique):
    """Keycloak answers a bare 500 to an unknown group path (a realm not provisioned for this version):
    what reaches the log says what to run."""
    username = f"sin-grupo-{unique}"
    with pytest.raises(IdentityUnavailable, match="python -m keycloak_ext provision"):
        gateway.create_account(username=username, email=f"{username}@example.com", first_name="Ana",
                               last_name="Pérez", attributes={}, groups=("/tipo-que-no-existe",))
    assert gateway.find_by_username(username) is None


def test_s3_server_keeps_connections_alive(stack):
    """The service's S3 calls reuse pooled connections: versitygw without --keep-alive answered each
    request with "Connection: close", so every call paid a new TCP connection on both sides."""
    import http.client
    from urllib.parse import urlsplit

    endpoint = urlsplit(stack.s3_endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=5)
    try:
        conn.request("GET", "/")  # refused (unsigned), which is enough to see the connection's fate
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        assert first.getheader("Connection", "").lower() != "close" and sock is not None
        conn.request("GET", "/")
        conn.getresponse().read()
        assert conn.sock is sock
    finally:
        conn.close()


def test_smtp_message_reaches_the_catcher_api(stack, mailbox, unique):
    to = f"buzon-{unique}@example.com"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "usuarios.externos@anam.gob.mx", to, "Prueba de correo ñ"
    msg.set_content("Estimad@ usuario")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)
    caught = mailbox.latest(to)
    assert caught.subject == "Prueba de correo ñ" and "Estimad@ usuario" in caught.text


def test_add_reviewer_command_gives_the_console_role_with_a_temporary_password(gateway, kc_admin, unique):
    username, email = f"revisor-cli-{unique}", f"revisor-cli-{unique}@anam.gob.mx"
    done = _keycloak_ext("add-reviewer", username, email, "--nombre", "Lupita")
    assert done.returncode == 0, done.stderr
    assert "contraseña temporal" in done.stdout
    account = gateway.find_by_username(username)
    try:
        assert account.enabled and account.first_name == "Lupita"
        assert "revisor" in gateway.realm_roles_of(account.id)
        again = _keycloak_ext("add-reviewer", username, email)
        assert again.returncode == 1 and "ya existe" in again.stderr
        # The new reviewer is at once out of the service account's reach (least privilege).
        with pytest.raises(IdentityRejected):
            gateway.set_temporary_password(account.id, "Tomada-" + unique + "!A1")
    finally:
        kc_admin.delete_user(account.id)


def test_provision_recreates_missing_user_type_groups_and_strips_what_they_must_not_carry(kc_admin, gateway,
                                                                                      make_account):
    """An existing realm without (some of) the user-type groups gets them with their roles and the
    service account's membership permission; a role added by hand to such a group is removed (the
    service account puts new accounts in these groups: they must not carry more than the type)."""
    groups = {g["name"]: g["id"] for g in kc_admin.get_groups()}
    for slug in ("dependiente", "prestadores_servicios"):
        kc_admin.delete_group(groups[group_of(slug)])
    kc_admin.assign_group_realm_roles(groups[group_of("mandatario")], [kc_admin.get_realm_role("revisor")])

    drift = _keycloak_ext("check")
    assert drift.returncode == 1
    assert "crear grupo tipo-dependiente con dependiente" in drift.stdout
    assert "crear grupo tipo-prestadores_servicios con prestadores_servicios" in drift.stdout
    assert "quitar roles revisor del grupo tipo-mandatario" in drift.stdout

    applied = _keycloak_ext("provision")
    assert applied.returncode == 0, applied.stderr
    assert RealmProvisioner(kc_admin).plan() == [], "provisioning is idempotent"
    groups = {g["name"]: g["id"] for g in kc_admin.get_groups()}
    for slug in ("dependiente", "prestadores_servicios", "mandatario"):
        assert [r["name"] for r in kc_admin.get_group_realm_roles(groups[group_of(slug)])] == [slug]
    # The recreated group has a new id: the service account may create accounts in it.
    account_id = make_account(groups=(group_path_of("dependiente"),))
    assert gateway.realm_roles_of(account_id) & USER_TYPE_SLUGS == {"dependiente"}
