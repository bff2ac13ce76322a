"""SAT writes the RFC into x500UniqueIdentifier (2.5.4.45) as a PrintableString, where X.520 says BIT
STRING; asn1crypto (which pyHanko and pyhanko-certvalidator parse certificates with) accepts only the BIT
STRING and fails on every SAT certificate (open upstream: wbond/asn1crypto issue #228). The attribute's
spec is widened here to accept either, once, when this package is imported; nothing else changes."""
from __future__ import annotations

from asn1crypto import core, x509


class UniqueIdentifier(core.Choice):
    _alternatives = [
        ("bit_string", core.OctetBitString),
        ("printable_string", core.PrintableString),
        ("utf8_string", core.UTF8String),
        ("ia5_string", core.IA5String),
        ("teletex_string", core.TeletexString),
        ("bmp_string", core.BMPString),
    ]


def widen() -> None:
    x509.NameTypeAndValue._oid_specs["unique_identifier"] = UniqueIdentifier


widen()
