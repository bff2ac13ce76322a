"""The test stack's settings as the Makefile passed them (environment of `make test`)."""
from __future__ import annotations

import os
from dataclasses import dataclass


class StackMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class TestStack:
    keycloak_url: str
    registro_url: str
    modulo_url: str
    s3_endpoint: str
    s3_bucket: str
    s3_access_key: str
    s3_secret_key: str
    mail_api: str
    smtp_port: int

    @classmethod
    def from_env(cls) -> "TestStack":
        if "KEYCLOAK_URL" not in os.environ or "MAIL_API_URL" not in os.environ:
            # Integration tests are never skipped: without a stack they fail and say how to run them.
            raise StackMissing("sin pila de pruebas: ejecute `make test` (levanta Keycloak, S3 y el correo)")
        e = os.environ
        return cls(
            keycloak_url=e["KEYCLOAK_URL"], registro_url=e["REGISTRO_PUBLIC_URL"], modulo_url=e["MODULO_PUBLIC_URL"],
            s3_endpoint=e["S3_ENDPOINT_URL"], s3_bucket=e["S3_BUCKET"], s3_access_key=e["S3_ACCESS_KEY"],
            s3_secret_key=e["S3_SECRET_KEY"], mail_api=e["MAIL_API_URL"], smtp_port=int(e["SMTP_PORT"]),
        )
