"""`make backup` → wipe → `make restore`: accounts, passwords, applications and documents come back.
Runs last among the production tests: it rebuilds the whole stack."""
from __future__ import annotations

import json
import tarfile

import pytest

from tests.production.conftest import make_user, psql_value, stored_documents
from tests.production.http import BalancerClient
from tests.support import oidc
from tests.support.reviewer import console_login
from tests.support.applications import create_application, path_of, submit, upload_valid_documents
from tools.stack.backup import backup, read_archive, restore
from tools.stack.runner import StackError

PASSWORD = "Clave-Respaldo-2026!"


def _login(env, username: str) -> dict:
    return oidc.login(env["KEYCLOAK_PUBLIC_URL"], "modulo-ejemplo", env["MODULO_CLIENT_SECRET"],
                      f"{env['MODULO_PUBLIC_URL']}/auth", username, PASSWORD)


# Restarts a JVM or the whole stack: minutes on a shared 2-vCPU machine.
@pytest.mark.timeout(900)
def test_backup_wipe_restore_brings_back_accounts_passwords_applications_and_documents(
        prod, env, kc_admin, gateway, s3, service_settings, reviewer_console, unique, tmp_path):
    approved_id, username = make_user(kc_admin, unique, password=PASSWORD, role="agente_aduanal",
                                      attributes={"tipo_usuario": "agente_aduanal", "estatus": "aprobado",
                                                  "es_extranjero": "false"})
    assert _login(env, username)["access_token"]
    pending_id, link = create_application(gateway, s3, service_settings)
    client = BalancerClient(env["REGISTRO_PUBLIC_URL"])
    assert client.get(path_of(link)).status_code == 200
    upload_valid_documents(client, link)
    assert submit(client, link).status_code == 303
    documents = stored_documents(s3, env["S3_BUCKET"], pending_id)
    assert len(documents) == 3
    cluster_id = psql_value(prod, "SELECT system_identifier FROM pg_control_system();")

    archive = backup(prod, tmp_path)
    manifest, members = read_archive(archive)
    assert [p["name"] for p in manifest["parts"]] == ["keycloak.dump"]
    keys = {o["key"] for o in manifest["objects"]}
    assert {k for k in keys if k.startswith(f"solicitudes/{pending_id}/documentos/")} and len(keys) >= 4
    assert archive.stat().st_mode & 0o777 == 0o600

    restore(prod, archive)  # empties the stack's data (a new database cluster) and rebuilds it
    assert psql_value(prod, "SELECT system_identifier FROM pg_control_system();") != cluster_id, "no se borró"

    assert _login(env, username)["access_token"], "the same password works after the restore"
    assert gateway.get_account(approved_id).enabled is True
    restored = gateway.get_account(pending_id)
    assert restored.attr("estatus") == "en_revision"
    assert stored_documents(s3, env["S3_BUCKET"], pending_id) == documents, "mismos documentos, mismo SHA-256"
    # Console sessions live in Redis, which a restore starts empty: the reviewer logs in again.
    assert console_login(reviewer_console, reviewer_console.reviewer).status_code == 302
    queue = reviewer_console.get("/revision/").text
    assert restored.attr("folio") in queue, "la solicitud pendiente vuelve a la cola"


def test_a_damaged_archive_is_refused_before_anything_is_touched(prod, tmp_path):
    archive = backup(prod, tmp_path)
    damaged = tmp_path / "danado.tar"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "keycloak.dump":
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.addfile(member, __import__("io").BytesIO(data))
    with pytest.raises(StackError, match="keycloak.dump no coincide con su SHA-256"):
        restore(prod, damaged)
    assert all(prod.pid_of(name) for name in prod.services), "the running stack was left alone"
    assert json.loads(tarfile.open(archive).extractfile("manifest.json").read())["format"]
