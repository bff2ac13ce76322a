"""Automatic checks shown to the reviewer (domain/checks.py)."""
from datetime import date

import pytest

from keycloak_ext import Account
from registro.domain.application import Application, DocumentRecord, documents_attribute
from registro.domain import responsiva_code
from registro.domain.checks import AVISO, ERROR, NO_APLICA, OK, ResponsivaFacts, expected_curp_initials, run_checks

TODAY = date(2026, 6, 1)


def application(first="Ana", last="Pérez López", curp="PELA800101MDFRPN06", rfc="PELA800101AB8", vigencia="2027-01-01",
                extra=None, foreign=False) -> Application:
    docs = {k: DocumentRecord(key=f"k/{k}", sha256="0" * 64, size=1, content_type="application/pdf",
                              original_name="x.pdf", uploaded_at="", details={})
            for k in (("responsiva_firmada",) if foreign else ("curp", "responsiva_firmada"))}
    docs["identificacion"] = DocumentRecord(key="k/id", sha256="1" * 64, size=1, content_type="image/png",
                                            original_name="i.png", uploaded_at="",
                                            details={"tipo_identificacion": "ine", "vigencia": vigencia})
    attrs = {"folio": "AU-2026-ABC", "documentos": documents_attribute(docs), "es_extranjero": str(foreign).lower(),
             **({} if foreign else {"curp": curp, "rfc": rfc}), **(extra or {})}
    return Application(Account(id="a", username="u", email="e@example.com", first_name=first, last_name=last,
                               enabled=False, email_verified=True, created_ms=0, attributes=attrs))


def outcome(checks, name):
    return next(c for c in checks if c.name == name).outcome


KEY = "clave-de-la-responsiva"
IDENTITY = {"folio": "AU-2026-ABC", "nombre_completo": "Ana Pérez López", "curp": "PELA800101MDFRPN06",
            "rfc": "PELA800101AB8"}
CODE = responsiva_code.payload(IDENTITY, KEY)
FACTS = ResponsivaFacts(generated_exists=True, codes=(CODE,), expected_code=CODE, codes_searched=True)


def responsiva_check(facts: ResponsivaFacts):
    return next(c for c in run_checks(application(), facts, TODAY) if c.name == "Folio de la responsiva")


@pytest.mark.parametrize("first, last, expected", [
    ("Ana", "Pérez López", "PELA"),
    ("María José", "Núñez", "NUXJ"),           # María skipped in a compound name, Ñ → X, no 2nd surname → X
    ("José", "de la Garza Ochoa", "GAOJ"),    # particles skipped; a single José is kept
    ("Ümit", "Öztürk Ávila", "OUAU"),          # accents and diereses fold
    ("Luis", "Wong", "WOXL"),
])
def test_expected_curp_initials(first, last, expected):
    assert expected_curp_initials(first, last) == expected


def test_consistent_mexican_application_passes_every_check():
    checks = run_checks(application(), FACTS, TODAY)
    assert {c.name: c.outcome for c in checks} == {
        "Documentos completos": OK, "CURP válida": OK, "Dígito verificador del RFC": OK,
        "Fecha de nacimiento CURP/RFC": OK, "Primeros 10 caracteres CURP/RFC": OK, "Nombre y CURP": OK,
        "Vigencia de la identificación": OK, "Folio de la responsiva": OK}


def test_name_comparison_ignores_case_and_accents():
    assert outcome(run_checks(application(first="ANA", last="perez lopez"), FACTS, TODAY), "Nombre y CURP") == OK


def test_mismatches_are_flagged():
    checks = run_checks(application(first="Beatriz", rfc="PELA810101AB8", vigencia="2026-05-31",
                                    extra={"rfc_digito_no_coincide": "true"}),
                        ResponsivaFacts(generated_exists=True, codes=(), expected_code=CODE, codes_searched=True),
                        TODAY)
    assert outcome(checks, "Nombre y CURP") == AVISO
    assert outcome(checks, "Fecha de nacimiento CURP/RFC") == ERROR
    assert outcome(checks, "Primeros 10 caracteres CURP/RFC") == AVISO
    assert outcome(checks, "Dígito verificador del RFC") == AVISO
    assert outcome(checks, "Vigencia de la identificación") == ERROR
    assert outcome(checks, "Folio de la responsiva") == AVISO


def test_unreadable_code_and_missing_generated_responsiva():
    unreadable = responsiva_check(ResponsivaFacts(True, codes=(), expected_code=CODE, codes_searched=True))
    assert unreadable.outcome == AVISO and unreadable.detail.startswith("No se pudo leer el código")
    not_yet = responsiva_check(ResponsivaFacts(True, codes=(), expected_code=CODE, codes_searched=False))
    assert not_yet.outcome == AVISO and "aún no se ha podido analizar" in not_yet.detail
    assert responsiva_check(ResponsivaFacts(False, codes=(CODE,), expected_code=CODE)).outcome == ERROR


def test_code_of_this_application_verifies_the_folio():
    check = responsiva_check(FACTS)
    assert check.outcome == OK and check.detail.startswith("Folio verificado")


def test_code_of_another_application_is_flagged():
    other = responsiva_code.payload({**IDENTITY, "folio": "AU-2026-XYZ"}, KEY)
    check = responsiva_check(ResponsivaFacts(True, codes=(other,), expected_code=CODE, codes_searched=True))
    assert check.outcome == ERROR and check.detail.startswith("Pertenece a otra solicitud")
    assert "AU-2026-XYZ" in check.detail


def test_code_with_this_folio_but_other_identity_or_key_is_flagged():
    edited = responsiva_code.payload({**IDENTITY, "nombre_completo": "Beatriz Pérez López"}, KEY)
    forged = responsiva_code.payload(IDENTITY, "otra-clave")
    for code in (edited, forged):
        check = responsiva_check(ResponsivaFacts(True, codes=(code,), expected_code=CODE, codes_searched=True))
        assert check.outcome == ERROR and check.detail.startswith("Pertenece a otra solicitud")


def test_foreign_qr_codes_are_not_ours():
    for text in ("https://example.com/", "ANAM-AU:1:AU-2026-ABC:CORTO", "ANAM-AU:2:AU-2026-ABC:" + "A" * 24):
        assert responsiva_code.parse(text) is None
        check = responsiva_check(ResponsivaFacts(True, codes=(text,), expected_code=CODE, codes_searched=True))
        assert check.outcome == AVISO


def test_foreigner_without_curp_or_rfc():
    checks = run_checks(application(foreign=True), FACTS, TODAY)
    assert outcome(checks, "CURP y RFC") == NO_APLICA and outcome(checks, "Nombre y CURP") == NO_APLICA
    assert outcome(checks, "Documentos completos") == OK
