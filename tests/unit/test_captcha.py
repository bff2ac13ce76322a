"""The captcha adapter: signed, expiring ALTCHA challenges, each solution accepted once."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from registro.adapters.captcha import Captcha, CaptchaOutcome, encode_solution
from tests.fakes import FakeUsedSolutions
from tests.support.captcha import solve, wrong

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def captcha(clock) -> Captcha:
    return Captcha("clave-captcha", 300, FakeUsedSolutions(), clock=clock)


def test_a_solved_challenge_is_accepted_once(captcha):
    answer = solve(captcha.challenge())
    assert captcha.verify(answer) is CaptchaOutcome.ACCEPTED
    assert captcha.verify(answer) is CaptchaOutcome.REPLAYED


def test_replay_is_refused_by_another_instance_sharing_the_store(captcha, clock):
    # Two gunicorn workers / replicas: separate objects, one database.
    other = Captcha("clave-captcha", 300, captcha.used, clock=clock)
    answer = solve(captcha.challenge())
    assert other.verify(answer) is CaptchaOutcome.ACCEPTED
    assert captcha.verify(answer) is CaptchaOutcome.REPLAYED


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_solution(captcha, value):
    assert captcha.verify(value) is CaptchaOutcome.MISSING


@pytest.mark.parametrize("value", ["no-es-base64!", "e30=", "bnVsbA=="])
def test_garbage_is_invalid(captcha, value):
    assert captcha.verify(value) is CaptchaOutcome.INVALID


def test_wrong_counter_is_invalid_and_not_burned(captcha):
    challenge = captcha.challenge()
    assert captcha.verify(wrong(challenge)) is CaptchaOutcome.INVALID
    assert captcha.verify(solve(challenge)) is CaptchaOutcome.ACCEPTED


def test_expired_solution_is_refused(captcha, clock):
    answer = solve(captcha.challenge())
    clock.now += 301
    assert captcha.verify(answer) is CaptchaOutcome.EXPIRED


def test_challenge_signed_with_another_key_is_invalid(captcha, clock):
    foreign = Captcha("otra-clave", 300, FakeUsedSolutions(), clock=clock)
    assert captcha.verify(solve(foreign.challenge())) is CaptchaOutcome.INVALID


def test_tampered_expiry_is_invalid(captcha, clock):
    challenge = captcha.challenge()
    answer = json.loads(__import__("base64").b64decode(solve(challenge)))
    answer["challenge"]["parameters"]["expiresAt"] += 60
    forged = encode_solution(answer["challenge"], answer["solution"]["counter"], answer["solution"]["derivedKey"])
    assert captcha.verify(forged) is CaptchaOutcome.INVALID


def test_a_use_is_recorded_by_a_hash_of_the_signature_until_its_challenge_expires(captcha, clock):
    challenge = captcha.challenge()
    assert captcha.verify(solve(challenge)) is CaptchaOutcome.ACCEPTED
    signature = hashlib.sha256(challenge["signature"].encode()).hexdigest()
    expires_at = datetime.fromtimestamp(challenge["parameters"]["expiresAt"], timezone.utc)
    assert expires_at == datetime.fromtimestamp(int(clock.now) + 300, timezone.utc)
    assert captcha.used.uses == {signature: expires_at}
    assert captcha.forget_expired() == 0
    clock.now += 301
    assert captcha.forget_expired() == 1
    assert captcha.used.uses == {}


def test_empty_key_is_refused():
    with pytest.raises(ValueError):
        Captcha("", 300, FakeUsedSolutions())


@pytest.mark.parametrize("name,source", [
    ("altcha.min.js", "dist/main/altcha.min.js"),
    ("es-419.js", "dist/i18n/es-419.js"),
])
def test_served_widget_is_the_pinned_npm_build(name, source):
    """static/vendor/altcha is a copy of the npm package pinned in package.json (`npm ci`)."""
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["altcha"]
    package = ROOT / "node_modules" / "altcha"
    assert json.loads((package / "package.json").read_text())["version"] == pinned
    served = ROOT / "services" / "registro" / "static" / "vendor" / "altcha" / name
    assert served.read_bytes() == (package / source).read_bytes()
