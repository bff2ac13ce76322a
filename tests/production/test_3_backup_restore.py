"""`make backup` → wipe → `make restore`: accounts, passwords, applications and documents come back,
both databases and the bucket at the moment of the backup. Runs last among the production tests:
it rebuilds the whole stack."""
from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.production.conftest import make_user, stored_documents
from tests.production.http import BalancerClient
from tests.support import oidc
from tests.support.reviewer import console_login
from tests.support.applications import create_application, path_of, submit, upload_valid_documents
from tools.stack.backup import POSTGRES_PARTS, backup, read_archive, restore
from tools.stack.prod import psql
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
    before = BalancerClient(env["REGISTRO_PUBLIC_URL"]).get("/registro").headers["X-Request-ID"]

    archive = backup(prod, tmp_path)
    manifest = read_archive(archive)
    assert [p["name"] for p in manifest["parts"]] == list(POSTGRES_PARTS)
    keys = {o["key"] for o in manifest["objects"]}
    assert {k for k in keys if k.startswith(f"solicitudes/{pending_id}/documentos/")} and len(keys) >= 4
    assert archive.stat().st_mode & 0o777 == 0o600
    # Made after the backup: in both databases and the bucket, gone once it is restored.
    for database in ("keycloak", "registro"):
        psql(prod.profile, "CREATE TABLE despues_del_respaldo ();", database=database)
    s3.put_object(Bucket=env["S3_BUCKET"], Key="despues-del-respaldo", Body=b"x")

    restore(prod, archive)  # empties the stack's data and rebuilds it from the archive
    for database in ("keycloak", "registro"):
        assert psql(prod.profile, "SELECT to_regclass('despues_del_respaldo') IS NULL;", database=database).strip() \
            == "t", f"{database} no volvió al momento del respaldo"
    assert "despues-del-respaldo" not in {o["Key"] for o in s3.list_objects_v2(Bucket=env["S3_BUCKET"]).get("Contents", [])}
    # The logs of what happened before the restore stay.
    assert before in prod.log_of("balancer").read_text(errors="replace")

    assert _login(env, username)["access_token"], "the same password works after the restore"
    assert gateway.get_account(approved_id).enabled is True
    restored = gateway.get_account(pending_id)
    assert restored.attr("estatus") == "en_revision"
    assert stored_documents(s3, env["S3_BUCKET"], pending_id) == documents, "mismos documentos, mismo SHA-256"
    # Console sessions live in Redis, which a restore starts empty: the reviewer logs in again.
    assert console_login(reviewer_console, reviewer_console.reviewer).status_code == 302
    queue = reviewer_console.get("/revision/").text
    assert restored.attr("folio") in queue, "la solicitud pendiente vuelve a la cola"


def test_objects_deleted_or_made_while_the_databases_are_copied_are_in_the_archive(prod, env, s3, tmp_path,
                                                                                 monkeypatch):
    """A backup of a busy stack: an object the databases' copy names but that is deleted right after it (a
    replaced document's old version, the purge) and one made while the databases are copied are both in
    the archive — the restored databases name no object the bucket lacks."""
    import tools.stack.backup as backup_mod

    bucket = env["S3_BUCKET"]
    s3.put_object(Bucket=bucket, Key="respaldo-prueba/reemplazado", Body=b"antes")
    real = backup_mod._base_backup

    def busy(stack, base):
        s3.put_object(Bucket=bucket, Key="respaldo-prueba/nuevo", Body=b"durante")
        real(stack, base)
        s3.delete_object(Bucket=bucket, Key="respaldo-prueba/reemplazado")  # after the databases' moment

    monkeypatch.setattr(backup_mod, "_base_backup", busy)
    manifest = read_archive(backup(prod, tmp_path))
    keys = {o["key"] for o in manifest["objects"]}
    assert {"respaldo-prueba/reemplazado", "respaldo-prueba/nuevo"} <= keys
    assert len(keys) == len(manifest["objects"]) and manifest["vanished"] == 0  # each object once
    s3.delete_object(Bucket=bucket, Key="respaldo-prueba/nuevo")


def test_a_damaged_archive_is_refused_before_anything_is_touched(prod, tmp_path):
    archive = backup(prod, tmp_path)
    damaged = tmp_path / "danado.tar"
    pids = {name: prod.pid_of(name) for name in prod.services}
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == "postgres/base.tar":
                data = data[:-1] + bytes([data[-1] ^ 1])
            target.addfile(member, io.BytesIO(data))
    with pytest.raises(StackError, match="postgres/base.tar no coincide con su SHA-256"):
        restore(prod, damaged)
    assert {name: prod.pid_of(name) for name in prod.services} == pids, "the running stack was left alone"
    assert json.loads(tarfile.open(archive).extractfile("manifest.json").read())["format"]
