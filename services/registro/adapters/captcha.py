"""The self-hosted captcha: ALTCHA proof-of-work challenges, verified on the server.

The `altcha` library makes and checks the challenges (HMAC-signed, with an expiry); the widget
that solves them in the browser is the official `altcha` npm package, served by this service
(static/vendor/altcha). No request leaves for a third party.

What the library does not do is remember which solutions were already used: a solved challenge
would otherwise be accepted again until it expires. Every accepted challenge is recorded in
`UsedSolutions` (PostgreSQL's `captcha_uses`, platform/captcha_uses.py: a primary key on the
signature's hash), so a second use fails on every worker and replica alike; each use carries its
challenge's expiry so old ones can be swept.
"""
from __future__ import annotations

import base64
import enum
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol, runtime_checkable

import altcha


@runtime_checkable
class UsedSolutions(Protocol):
    def use(self, signature_sha256: str, expires_at: datetime) -> bool:
        """Records a solution's use; False when it was used already (nothing changed)."""

    def forget_expired(self, now: datetime) -> int:
        """Deletes the uses of challenges expired before `now` (they can no longer be replayed); how many."""


class CaptchaOutcome(enum.Enum):
    ACCEPTED = "aceptado"
    MISSING = "faltante"
    INVALID = "no_valido"
    EXPIRED = "expirado"
    REPLAYED = "reutilizado"


@dataclass(frozen=True)
class CaptchaDifficulty:
    # Iterated SHA-256 (WebCrypto in the widget). Expected work = 16**len(key_prefix) * cost hashes:
    # "0000" and cost 1 is ~65 000 hashes, well under a second in a browser.
    algorithm: str = "SHA-256"
    cost: int = 1
    key_prefix: str = "0000"


class Captcha:
    def __init__(self, hmac_key: str, ttl_s: int, used: UsedSolutions,
                 difficulty: CaptchaDifficulty = CaptchaDifficulty(),
                 clock: Callable[[], float] = time.time) -> None:
        if not hmac_key:
            raise ValueError("captcha sin clave HMAC")
        self.hmac_key = hmac_key
        self.ttl_s = ttl_s
        self.used = used
        self.difficulty = difficulty
        self.clock = clock

    def challenge(self) -> dict:
        """A fresh signed challenge, as the widget expects it (JSON-serialisable)."""
        d = self.difficulty
        return altcha.create_challenge(
            d.algorithm, d.cost, key_prefix=d.key_prefix,
            expires_at=int(self.clock()) + self.ttl_s, hmac_secret=self.hmac_key,
        ).to_dict()

    def verify(self, payload: str | None) -> CaptchaOutcome:
        """Checks a solution once: signature, expiry, proof of work, then burns it."""
        if not payload or not payload.strip():
            return CaptchaOutcome.MISSING
        try:
            parsed = altcha.Payload.from_base64(payload.strip())
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return CaptchaOutcome.INVALID
        expires_at = parsed.challenge.parameters.expires_at
        if not isinstance(expires_at, int) or expires_at > int(self.clock()) + self.ttl_s:
            # Every challenge we sign carries an expiry within the TTL; nothing else is ours.
            return CaptchaOutcome.INVALID
        if expires_at < self.clock():
            return CaptchaOutcome.EXPIRED
        result = altcha.verify_solution(parsed, self.hmac_key)
        if result.expired:
            return CaptchaOutcome.EXPIRED
        if not result.verified:
            return CaptchaOutcome.INVALID
        if not self.used.use(signature_sha256(parsed.challenge.signature or ""),
                             datetime.fromtimestamp(expires_at, timezone.utc)):
            return CaptchaOutcome.REPLAYED
        return CaptchaOutcome.ACCEPTED

    def forget_expired(self) -> int:
        """Forgets the uses of challenges that have expired (they can no longer be replayed)."""
        return self.used.forget_expired(datetime.fromtimestamp(self.clock(), timezone.utc))


def signature_sha256(signature: str) -> str:
    """What a use is recorded by: the challenge's HMAC signature, hashed to a fixed length."""
    return hashlib.sha256(signature.encode()).hexdigest()


def encode_solution(challenge: dict, counter: int, derived_key: str) -> str:
    """The form value the widget posts: base64 JSON of the challenge and its solution."""
    body = {"challenge": challenge, "solution": {"counter": counter, "derivedKey": derived_key}}
    return base64.b64encode(json.dumps(body).encode()).decode()
