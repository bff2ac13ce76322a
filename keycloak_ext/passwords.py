"""Temporary passwords that satisfy the realm's policy (realm-config: length ≥ 12, upper, lower,
digit, special, not the username, not the email)."""
from __future__ import annotations

import secrets

# Look-alike characters (0/O, 1/l/I) are left out: people type these from an email.
_CLASSES = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%+-=?@_")


def temporary_password(username: str, email: str, length: int = 16) -> str:
    rng = secrets.SystemRandom()
    pool = "".join(_CLASSES)
    while True:
        chars = [rng.choice(c) for c in _CLASSES] + [rng.choice(pool) for _ in range(length - len(_CLASSES))]
        rng.shuffle(chars)
        password = "".join(chars)
        lowered = password.lower()
        if username.lower() not in lowered and email.lower() not in lowered:
            return password
