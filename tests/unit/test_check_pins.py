"""The pin check of upload parsers (tools/check_pins.py; `make audit` runs it against the index)."""
from __future__ import annotations

from tools import check_pins

VERSIONS = ["7.1.1", "7.1.0", "7.0.1", "7.0.0", "6.21.4", "7.2.0b1", "8.0.0"]


def test_a_pin_behind_its_latest_patch_release_is_reported():
    assert check_pins.behind("7.1.0", VERSIONS) == "7.1.1"
    assert check_pins.behind("7.0.0", VERSIONS) == "7.0.1"


def test_the_latest_patch_of_its_minor_passes_even_when_newer_minors_exist():
    assert check_pins.behind("7.1.1", VERSIONS) is None  # 8.0.0 and a 7.2 pre-release do not count
    assert check_pins.behind("6.21.4", VERSIONS) is None
    assert check_pins.behind("5.0.0", VERSIONS) is None  # nothing known for that minor


def test_the_lock_pins_the_fixed_releases_of_the_upload_parsers():
    pinned = check_pins.pins(check_pins.LOCK.read_text(encoding="utf-8"))
    assert set(check_pins.PARSERS) <= set(pinned)
    # pypdf 7.1.1 carries four security fixes for malformed PDFs (issue 11, item 8).
    assert check_pins._release(pinned["pypdf"]) >= (7, 1, 1)


def test_pins_reads_exact_pins_only():
    assert check_pins.pins("pypdf==7.1.1\n# c\nPillow==13.0.0 ; python_version>'3'\nfoo>=1\n") == {
        "pypdf": "7.1.1", "pillow": "13.0.0"}
