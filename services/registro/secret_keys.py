"""The service's signing keys: how strong they must be outside a local stack, and the rotation window.

Every link, grant and receipt the service signs (confirmation links, status links, direct-upload
grants and receipts, the session cookie, CSRF tokens) is signed with REGISTRO_SECRET_KEY and, during a
rotation, still verified with REGISTRO_SECRET_KEY_PREVIOUS: an applicant holding a link emailed
before the rotation can still open it or ask for a new one. New signatures use the current key only.
Once the longest-lived link signed with the old key has expired (LINK_TTL_DAYS; status links:
STATUS_LINK_TTL_DAYS), the previous key is removed.

Strength (issue 21, item 3): a signing key must carry at least 32 random bytes. A string cannot prove
where it came from, so this is an estimate, written by hand because no maintained library judges a
key rather than a password: its length times the bits of the smallest usual alphabet holding it (hex
4 bits a character, base64 6, printable ASCII 6.5, anything else 8 a byte) must reach 256, and it must
not be a repetition or a run of few characters. `secrets.token_urlsafe(32)` (what the stacks generate)
and `openssl rand -hex 32` pass; "a", a word or a 40-character run of one letter do not.
"""
from __future__ import annotations

import math
import string
from collections import Counter
from typing import Mapping, Sequence

CURRENT = "REGISTRO_SECRET_KEY"
PREVIOUS = "REGISTRO_SECRET_KEY_PREVIOUS"
# Keys that sign or MAC something, checked when set (the captcha's and the responsiva's default to CURRENT).
SIGNING_KEYS = (CURRENT, PREVIOUS, "CAPTCHA_HMAC_KEY", "RESPONSIVA_MAC_KEY")

MIN_BITS = 256
# Below this many bits per character of its own text, a key is a run of few characters ("aaaa…", "abab…").
_MIN_BITS_PER_CHAR = 3.0
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=-_")
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")

WEAK = (f"es débil (se requieren al menos 32 bytes aleatorios, p. ej. la salida de "
        f"`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)")


def estimated_bits(value: str) -> float:
    """What the key could hold at most, judged from the alphabet it is written in; 0 for a key that
    repeats a shorter piece of itself or uses few characters (its own text says it is not random)."""
    if not value:
        return 0.0
    if _repeats(value) or _bits_per_char(value) < _MIN_BITS_PER_CHAR:
        return 0.0
    chars = set(value)
    if chars <= _HEX:
        return len(value) * 4.0
    if chars <= _BASE64:
        return len(value) * 6.0
    if chars <= _PRINTABLE:
        return len(value) * math.log2(len(_PRINTABLE))
    return len(value.encode("utf-8")) * 8.0


def is_strong(value: str) -> bool:
    return estimated_bits(value) >= MIN_BITS


def weak_keys(env: Mapping[str, str]) -> list[str]:
    """InsecureSettings problems (the variable's name first) for every signing key that is set and weak."""
    return [f"{name} {WEAK}" for name in SIGNING_KEYS if env.get(name) and not is_strong(env[name])]


def previous_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    previous = (env.get(PREVIOUS) or "").strip()
    return (previous,) if previous else ()


def verifying(current: str, previous: Sequence[str]) -> list[str]:
    """The keys for itsdangerous, oldest first: it verifies with each and signs with the last (current)."""
    return [*[key for key in previous if key and key != current], current]


def _repeats(value: str) -> bool:
    # A string equal to a rotation of itself other than by its length is a repetition of a shorter piece.
    return (value + value).find(value, 1) < len(value)


def _bits_per_char(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())
