"""`make backup` / `make restore ARCHIVE=…` for the prod profile.

One dated tar archive holds:
- `postgres/base.tar`, `postgres/pg_wal.tar`, `postgres/backup_manifest`: one `pg_basebackup` of
  the whole PostgreSQL server, so Keycloak's database and registro's are one consistent moment (a
  pg_dump snapshot cannot span two databases, and pg_dumpall dumps them one after the other: a
  registration between the two would be an account without its application, or the reverse);
- every object of the bucket under `s3/`, copied in two passes around the databases' copy: the first,
  before it, holds every object that existed then, so one deleted while the backup runs (a replaced
  document, the purge) is still there for the databases that name it; the second, after it, adds the
  objects made meanwhile. An object made after the first pass and deleted again before the second is
  the only one the databases may name and the archive lack: made and replaced within the few minutes of
  the databases' copy. One listed and gone before it is read is counted (`vanished`), not an error;
- `manifest.json`, last: the SHA-256 and size of each part, each object's content type and metadata.

Both directions stream: nothing is held whole in memory (an archive holds every document).
Restore checks every hash first (a damaged archive is refused before anything is touched), stops
the stack and empties its data — its logs, secrets file and local certificate authority stay —,
puts the server's files back, re-sets the roles' passwords from the secrets file, loads the objects
and starts the whole stack on them.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .confine import own
from .profiles import KEYCLOAK_VERSION, ROOT
from .prod import data_paths, ensure_databases, forget_cluster_members, psql
from .runner import Stack, StackError
from .services import PG_BIN, _as_postgres, pg_dir

FORMAT = "acceso-unico-backup/2"
POSTGRES_PARTS = ("postgres/base.tar", "postgres/pg_wal.tar", "postgres/backup_manifest")
CHUNK = 1024 * 1024


def _s3(env: dict[str, str]):
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], aws_access_key_id=env["S3_ACCESS_KEY"],
                        aws_secret_access_key=env["S3_SECRET_KEY"], region_name=env.get("S3_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


class _Hashing(io.RawIOBase):
    """Reads through `source`, hashing what passes."""

    def __init__(self, source: BinaryIO) -> None:
        self.source, self.sha256, self.count = source, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.source.read(len(buffer))
        self.sha256.update(data)
        self.count += len(data)
        buffer[:len(data)] = data
        return len(data)


def _sha256_of(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _add_stream(tar: tarfile.TarFile, name: str, size: int, stream: BinaryIO) -> dict:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o600
    hashing = _Hashing(stream)
    tar.addfile(info, io.BufferedReader(hashing, CHUNK))
    if hashing.count != size:
        raise StackError(f"{name}: se leyeron {hashing.count} bytes de {size}")
    return {"sha256": hashing.sha256.hexdigest(), "bytes": size}


def _base_backup(stack: Stack, folder: Path) -> None:
    """pg_basebackup of the running server into `folder` (tar format, its WAL streamed alongside),
    as the server's own user over its private socket."""
    folder.mkdir(mode=0o700)
    shutil.chown(folder, "postgres", "postgres")
    profile = stack.profile
    done = _as_postgres(str(PG_BIN / "pg_basebackup"), "-h", str(pg_dir(profile)),
                        "-p", str(profile.ports["POSTGRES_PORT"]), "-D", str(folder), "--format=tar",
                        "--wal-method=stream", "--checkpoint=fast", "--no-password")
    if done.returncode != 0:
        raise StackError(f"pg_basebackup falló: {done.stderr.strip()}")


def backup(stack: Stack, target_dir: Path | None = None) -> Path:
    env = stack.env
    for name in ("postgres", "s3"):
        if stack.pid_of(name) is None:
            raise StackError(f"la pila «{stack.profile.name}» no está levantada ({name}); ejecute make prod-up")
    target_dir = Path(target_dir or os.environ.get("BACKUP_DIR") or ROOT / "backups")
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    archive = target_dir / f"acceso-unico-{stack.profile.name}-{stamp}.tar"
    partial = archive.with_suffix(".tar.partial")
    parts, objects = [], []
    s3, bucket = _s3(env), env["S3_BUCKET"]
    # The server's user writes the copy: in the stack's folder, which it can reach (the target may not be).
    with tempfile.TemporaryDirectory(dir=stack.profile.data, prefix="respaldo-") as work:
        Path(work).chmod(0o711)
        base = Path(work) / "postgres"
        # Personal data from the first byte: the archive is 0600 while it is written.
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out, \
                tarfile.open(fileobj=out, mode="w") as tar:
            vanished = _copy_objects(s3, bucket, tar, objects)
            _base_backup(stack, base)
            for part in POSTGRES_PARTS:
                path = base / Path(part).name
                with path.open("rb") as stream:
                    parts.append({"name": part, **_add_stream(tar, part, path.stat().st_size, stream)})
            shutil.rmtree(base)  # the copy leaves the disk before the objects made meanwhile are read
            vanished += _copy_objects(s3, bucket, tar, objects)
            manifest = {"format": FORMAT, "created": stamp, "profile": stack.profile.name,
                        "keycloak_version": KEYCLOAK_VERSION, "postgres_version": _server_version(stack),
                        "bucket": bucket, "parts": parts, "objects": objects, "vanished": vanished}
            data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            _add_stream(tar, "manifest.json", len(data), io.BytesIO(data))
    partial.rename(archive)
    return archive


def _copy_objects(s3, bucket: str, tar: tarfile.TarFile, objects: list[dict]) -> int:
    """Adds to the archive every object of the bucket not in `objects` yet (and to `objects`); returns
    how many were listed and gone before they could be read (deleted meanwhile)."""
    copied = {o["key"] for o in objects}
    vanished = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"] in copied:
                continue
            try:
                got = s3.get_object(Bucket=bucket, Key=item["Key"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                vanished += 1
                continue
            name = f"s3/{item['Key']}"
            added = _add_stream(tar, name, got["ContentLength"], got["Body"])
            objects.append({"key": item["Key"], "part": name, **added,
                            "content_type": got.get("ContentType") or "application/octet-stream",
                            "metadata": got.get("Metadata") or {}})
            copied.add(item["Key"])
    return vanished


def _server_version(stack: Stack) -> str:
    return psql(stack.profile, "SHOW server_version_num;").strip()


def read_archive(archive: Path) -> dict:
    """The manifest, once every part has been read through and matched its SHA-256 and size (nothing
    is restored from a damaged archive). One pass, a megabyte at a time."""
    digests: dict[str, tuple[str, int]] = {}
    manifest = None
    with tarfile.open(archive, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            stream = tar.extractfile(member)
            if member.name == "manifest.json":
                manifest = json.loads(stream.read())
            else:
                digests[member.name] = _sha256_of(stream)
    if manifest is None:
        raise StackError(f"{archive} no es un respaldo: falta manifest.json")
    if manifest.get("format") != FORMAT:
        raise StackError(f"formato de respaldo desconocido: {manifest.get('format')} (se espera {FORMAT}; los "
                         f"respaldos anteriores no traen la base de registro)")
    expected = [(p["name"], p["sha256"], p["bytes"]) for p in manifest["parts"]] + \
               [(o["part"], o["sha256"], o["bytes"]) for o in manifest["objects"]]
    for name, digest, size in expected:
        if digests.get(name) != (digest, size):
            raise StackError(f"respaldo dañado: {name} no coincide con su SHA-256")
    if sorted(p["name"] for p in manifest["parts"]) != sorted(POSTGRES_PARTS):
        raise StackError("respaldo incompleto: faltan partes de la base de datos")
    return manifest


def _members(archive: Path) -> Iterator[tuple[tarfile.TarInfo, BinaryIO]]:
    with tarfile.open(archive, mode="r|") as tar:
        for member in tar:
            if member.isfile():
                yield member, tar.extractfile(member)


def _empty_data(stack: Stack) -> None:
    """Stops the stack and removes its data; the logs stay (what happened before the restore is
    still there to read), and so do secrets.env and the local certificate authority."""
    stack.down()
    keep = {stack.logs}
    for path in data_paths(stack.profile):
        if path in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _unpack_postgres(stream: BinaryIO, target: Path) -> None:
    """One of pg_basebackup's tar files into the server's folder, owned by its user."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(target, filter="data")


def restore(stack: Stack, archive: Path) -> None:
    manifest = read_archive(archive)
    major = int(manifest["postgres_version"]) // 10000
    if PG_BIN.parent.name != str(major):
        raise StackError(f"el respaldo es de PostgreSQL {major} y esta pila usa {PG_BIN.parent.name}")
    profile = stack.profile
    _empty_data(stack)
    env = stack.env
    folder = pg_dir(profile)
    objects = {o["part"]: o for o in manifest["objects"]}
    try:
        folder.mkdir(mode=0o700, parents=True)
        stack.start("s3")
        stack.wait_ready("s3")
        stack._run_python("-m", "tools.stack.bucket")
        s3 = _s3(env)
        for member, stream in _members(archive):
            if member.name == "postgres/base.tar":
                _unpack_postgres(stream, folder)
            elif member.name == "postgres/pg_wal.tar":
                _unpack_postgres(stream, folder / "pg_wal")
            elif member.name in objects:
                obj = objects[member.name]
                # A forward-only reader (the archive is read once, in order): S3's transfer manager
                # sends it in bounded parts instead of seeking in it.
                s3.upload_fileobj(io.BufferedReader(_Hashing(stream), CHUNK), env["S3_BUCKET"], obj["key"], ExtraArgs={
                    "ContentType": obj["content_type"], "Metadata": obj["metadata"]})
        # The server keeps its socket in its folder: the copied socket lock names a process of the
        # server that was backed up, and would stop this one from starting.
        for stale in folder.glob(".s.PGSQL.*"):
            stale.unlink()
        own(folder, "postgres")
        folder.chmod(0o700)
        stack.start("postgres")  # replays the WAL copied with the backup up to its consistent end
        stack.wait_ready("postgres")
        ensure_databases(profile)  # passwords from this stack's secrets file
        forget_cluster_members(profile)  # the members of the cluster running when the backup was made
        for database in ("keycloak", "registro"):
            psql(profile, "ANALYZE;", database=database)
    except BaseException:
        stack.down()
        raise
    stack.up()
