"""gunicorn logger that keeps personal links out of the access log.

Confirmation links carry a signed token in the path (`/activacion/<token>/…`): anyone who reads
the log could open the applicant's page. The request line and path are logged with it masked.
Used with `gunicorn --logger-class registro.access_log.TokenMaskingLogger`.
"""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

_TOKEN_IN_PATH = re.compile(r"(/activacion/)[^/\s?]+")


def mask(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1…", text)


class TokenMaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms
