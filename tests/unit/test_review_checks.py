"""Automatic checks shown to the reviewer (domain/checks.py)."""
from datetime import date

import pytest

from keycloak_ext import Account
from registro.domain.application import Application, DocumentRecord, documents_attribute
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


FACTS = ResponsivaFacts(generated_exists=True, signed_text="Responsiva folio AU-2026-ABC")


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
                        ResponsivaFacts(generated_exists=True, signed_text="otro texto"), TODAY)
    assert outcome(checks, "Nombre y CURP") == AVISO
    assert outcome(checks, "Fecha de nacimiento CURP/RFC") == ERROR
    assert outcome(checks, "Primeros 10 caracteres CURP/RFC") == AVISO
    assert outcome(checks, "Dígito verificador del RFC") == AVISO
    assert outcome(checks, "Vigencia de la identificación") == ERROR
    assert outcome(checks, "Folio de la responsiva") == AVISO


def test_scanned_responsiva_and_missing_generated_one():
    assert outcome(run_checks(application(), ResponsivaFacts(True, None), TODAY), "Folio de la responsiva") == AVISO
    assert outcome(run_checks(application(), ResponsivaFacts(False, None), TODAY), "Folio de la responsiva") == ERROR


def test_foreigner_without_curp_or_rfc():
    checks = run_checks(application(foreign=True), FACTS, TODAY)
    assert outcome(checks, "CURP y RFC") == NO_APLICA and outcome(checks, "Nombre y CURP") == NO_APLICA
    assert outcome(checks, "Documentos completos") == OK
