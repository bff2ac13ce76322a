"""Signing the responsiva with the applicant's e.firma (SAT's FIEL) as a PAdES signature (issue 22).

The browser holds the key: the service prepares the responsiva with a signature field and hands out the
signed attributes to sign (pades.py), embeds the signature value it gets back, then verifies the result
check by check (verification.py) before it is stored as the "Responsiva firmada" (signing.py).
"""

from registro.documents.efirma import _asn1  # noqa: F401,E402 - before any SAT certificate is parsed (see _asn1.py)
