"""The object store: documents, generated responsivas and audit events, in any S3 (boto3)."""
from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from registro.config import S3Settings


class StorageUnavailable(Exception):
    """The object store could not be reached or failed; nothing can be assumed written."""


class ObjectMissing(Exception):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str
    metadata: dict[str, str]
    etag: str = ""


@dataclass(frozen=True)
class PresignedPut:
    """A PUT a browser may send once: to `url`, with exactly `headers` and a body of the signed size."""

    url: str
    headers: dict[str, str]


@runtime_checkable
class ObjectStore(Protocol):
    def put(self, key: str, body: BinaryIO | bytes, *, content_type: str, metadata: dict[str, str] | None = None) -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
        """The object's bytes in chunks of up to `chunk_bytes`, for streaming it to a browser (or to a check)."""
        ...

    def head(self, key: str) -> StoredObject: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def presigned_get(self, key: str, expires_s: int = 60) -> str: ...

    def presigned_put(self, key: str, size: int, expires_s: int) -> PresignedPut:
        """A browser's upload of exactly `size` bytes to `key`, refused by S3 once `key` exists (so the
        URL cannot overwrite what it stored) and after `expires_s`. StorageUnavailable when browsers
        have no way to S3 (no public URL configured)."""
        ...

    def ping(self) -> None: ...


_POOL_CONNECTIONS = 32


class S3Store:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.client = self._client(settings, sign_payload=True)
        # For puts that carry the SHA-256 computed while receiving (ChecksumSHA256, a signed header
        # that S3 verifies the body against): botocore need not hash the body a second time to sign it.
        self.checksummed_client = self._client(settings, sign_payload=False)
        self._public_client = None  # presigns browsers' uploads against S3_PUBLIC_URL (built when first used)

    @staticmethod
    def _client(settings: S3Settings, *, sign_payload: bool):
        return boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            config=Config(
                s3={"addressing_style": "path", "payload_signing_enabled": sign_payload},
                connect_timeout=settings.timeout_s,
                read_timeout=settings.timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                signature_version="s3v4",
                # Enough pooled connections for every thread of a worker at once (request threads,
                # the claims' and the outbox's): with botocore's default of 10 a busy worker discarded
                # connections and opened new ones.
                max_pool_connections=_POOL_CONNECTIONS,
                # botocore ≥ 1.36 adds a CRC32 of every body it sends and checks one on every body it
                # reads. Over plain HTTP the s3v4 signature already covers the body's SHA-256 (S3 checks
                # it); over HTTPS, TLS protects the bytes in transit; and the uploads' puts pass their
                # own checksum explicitly (sent either way). The extra pass costs CPU on every call.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                # Every call is built here from our own values; botocore's walk of each request's
                # parameters against the model cost ≈ 0.15 ms of CPU per call (the server checks them).
                parameter_validation=False,
            ),
        )

    def _extra(self) -> dict:
        return {"ServerSideEncryption": self.settings.sse} if self.settings.sse else {}

    def put(self, key: str, body: BinaryIO | bytes, *, content_type: str, metadata: dict[str, str] | None = None) -> None:
        extra = self._extra()
        client = self.client
        digest = (metadata or {}).get("sha256", "")
        if len(digest) == 64:
            # The hash computed while receiving: S3 verifies the bytes against it (BadDigest otherwise),
            # so botocore skips both its CRC32 pass and its signing hash over the body.
            try:
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(digest)).decode()
                client = self.checksummed_client
            except ValueError:
                pass
        with _s3_errors(key):
            client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                              Metadata=metadata or {}, **extra)

    def get(self, key: str) -> bytes:
        with _s3_errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def open(self, key: str, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
        with _s3_errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body.iter_chunks(chunk_bytes)

    def head(self, key: str) -> StoredObject:
        with _s3_errors(key):
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        return StoredObject(key=key, size=int(r["ContentLength"]), content_type=r.get("ContentType", ""),
                            metadata=dict(r.get("Metadata") or {}), etag=r.get("ETag", "").strip('"'))

    def delete(self, key: str) -> None:
        with _s3_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with _s3_errors(prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(keys)

    def presigned_get(self, key: str, expires_s: int = 60) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=expires_s)

    def presigned_put(self, key: str, size: int, expires_s: int) -> PresignedPut:
        if not self.settings.public_url:
            raise StorageUnavailable("S3_PUBLIC_URL no está definida: los navegadores no llegan a S3")
        if self._public_client is None:
            # Signed for the host browsers use: the signature covers it.
            public = dataclasses.replace(self.settings, endpoint_url=self.settings.public_url)
            self._public_client = self._client(public, sign_payload=False)
        # Every header named here is signed: S3 refuses a body of another size, another type, and
        # (If-None-Match) a second PUT once the object exists.
        headers = {"Content-Type": "application/octet-stream", "If-None-Match": "*"}
        params = {"Bucket": self.bucket, "Key": key, "ContentLength": size,
                  "ContentType": headers["Content-Type"], "IfNoneMatch": "*"}
        if self.settings.sse:
            params["ServerSideEncryption"] = headers["x-amz-server-side-encryption"] = self.settings.sse
        url = self._public_client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)
        return PresignedPut(url=url, headers=headers)

    def ping(self) -> None:
        with _s3_errors(self.bucket):
            self.client.head_bucket(Bucket=self.bucket)


def browser_upload_cors(origin: str) -> dict:
    """The bucket's CORS rule for direct uploads: the service's pages (`origin`, REGISTRO_PUBLIC_URL)
    may send a presigned PUT with the headers `presigned_put` signs, and nothing else. Applied by
    the stack when it creates the bucket (tools/stack/bucket.py); a deployment applies the same."""
    return {"CORSRules": [{"AllowedOrigins": [origin], "AllowedMethods": ["PUT"],
                           "AllowedHeaders": ["content-type", "if-none-match", "x-amz-server-side-encryption"],
                           "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3600}]}


# S3's answers for "no such object"; the codes differ between servers.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class _s3_errors:
    """Translates boto errors: a missing object → ObjectMissing; anything else → StorageUnavailable."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING:
            raise ObjectMissing(self.key) from exc
        if isinstance(exc, (ClientError, BotoCoreError)):
            raise StorageUnavailable(str(exc)) from exc
        return False
