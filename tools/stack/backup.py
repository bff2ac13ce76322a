"""`make backup` / `make restore ARCHIVE=…` for the prod profile.

One dated tar archive holds `keycloak.dump` (pg_dump, custom format, of Keycloak's database),
every object of the bucket under `s3/` and `manifest.json` with the SHA-256 and size of each part
(and each object's content type and metadata). Restore checks every hash before it touches
anything, empties the stack's data (its secrets file stays: the archive holds no secret), loads the
database and the objects, and starts the whole stack on them; Keycloak finds its realm and users
in the database (no import) and provisioning converges.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
from botocore.config import Config

from .profiles import KEYCLOAK_VERSION, ROOT
from .prod import PG_BIN, ensure_databases, forget_cluster_members, psql
from .runner import Stack, StackError

FORMAT = "acceso-unico-backup/1"


def _s3(env: dict[str, str]):
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], aws_access_key_id=env["S3_ACCESS_KEY"],
                        aws_secret_access_key=env["S3_SECRET_KEY"], region_name=env.get("S3_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def backup(stack: Stack, target_dir: Path | None = None) -> Path:
    env = stack.env
    for name in ("postgres", "s3"):
        if stack.pid_of(name) is None:
            raise StackError(f"la pila «{stack.profile.name}» no está levantada ({name}); ejecute make prod-up")
    target_dir = Path(target_dir or os.environ.get("BACKUP_DIR") or ROOT / "backups")
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    archive = target_dir / f"acceso-unico-{stack.profile.name}-{stamp}.tar"
    dump = subprocess.run(
        # jgroups_ping lists the members of the cluster running now: not data, and harmful restored.
        [str(PG_BIN / "pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
         "--exclude-table-data=jgroups_ping",
         "-h", "127.0.0.1", "-p", env["POSTGRES_PORT"], "-U", "keycloak", "keycloak"],
        capture_output=True, env={**os.environ, "PGPASSWORD": env["KC_DB_PASSWORD"]})
    if dump.returncode != 0:
        raise StackError(f"pg_dump falló: {dump.stderr.decode(errors='replace')}")
    parts = [{"name": "keycloak.dump", "sha256": _sha256(dump.stdout), "bytes": len(dump.stdout)}]
    objects = []
    s3 = _s3(env)
    bucket = env["S3_BUCKET"]
    tmp = archive.with_suffix(".tar.partial")
    with tarfile.open(tmp, "w") as tar:
        _add(tar, "keycloak.dump", dump.stdout)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                got = s3.get_object(Bucket=bucket, Key=item["Key"])
                body = got["Body"].read()
                name = f"s3/{item['Key']}"
                _add(tar, name, body)
                objects.append({"key": item["Key"], "part": name, "sha256": _sha256(body), "bytes": len(body),
                                "content_type": got.get("ContentType") or "application/octet-stream",
                                "metadata": got.get("Metadata") or {}})
        manifest = {"format": FORMAT, "created": stamp, "profile": stack.profile.name,
                    "keycloak_version": KEYCLOAK_VERSION, "bucket": bucket, "parts": parts, "objects": objects}
        _add(tar, "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    tmp.rename(archive)
    archive.chmod(0o600)  # personal data: documents and the accounts' database
    return archive


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def read_archive(archive: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every part, each checked against its SHA-256 (nothing is restored from a
    damaged archive)."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    if "manifest.json" not in members:
        raise StackError(f"{archive} no es un respaldo: falta manifest.json")
    manifest = json.loads(members["manifest.json"])
    if manifest.get("format") != FORMAT:
        raise StackError(f"formato de respaldo desconocido: {manifest.get('format')}")
    expected = [(p["name"], p["sha256"]) for p in manifest["parts"]] + \
               [(o["part"], o["sha256"]) for o in manifest["objects"]]
    for name, digest in expected:
        if name not in members or _sha256(members[name]) != digest:
            raise StackError(f"respaldo dañado: {name} no coincide con su SHA-256")
    return manifest, members


def restore(stack: Stack, archive: Path) -> None:
    manifest, members = read_archive(archive)
    profile = stack.profile
    stack.reset_data()  # stops everything; the secrets file stays
    env = stack.env
    try:
        stack.start("postgres")
        stack.start("s3")
        stack.wait_ready("postgres")
        ensure_databases(profile)
        with tempfile.NamedTemporaryFile(suffix=".dump") as dump:
            dump.write(members["keycloak.dump"])
            dump.flush()
            done = subprocess.run(
                [str(PG_BIN / "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                 "-h", "127.0.0.1", "-p", env["POSTGRES_PORT"], "-U", "keycloak", "-d", "keycloak", dump.name],
                capture_output=True, text=True, env={**os.environ, "PGPASSWORD": env["KC_DB_PASSWORD"]})
        if done.returncode != 0:
            raise StackError(f"pg_restore falló: {done.stderr}")
        forget_cluster_members(profile)  # archives that carried the table's rows
        psql(profile, "ANALYZE;", database="keycloak")
        stack.wait_ready("s3")
        stack._run_python("-m", "tools.stack.bucket")
        s3 = _s3(env)
        for obj in manifest["objects"]:
            s3.put_object(Bucket=env["S3_BUCKET"], Key=obj["key"], Body=members[obj["part"]],
                          ContentType=obj["content_type"], Metadata=obj["metadata"])
    except BaseException:
        stack.down()
        raise
    stack.up()
    if (ROOT / "services" / "registro" / "reindex.py").exists():
        # State kept in Redis for speed (the review-queue index) is rebuilt from Keycloak and S3.
        stack._run_python("-m", "registro.reindex")
