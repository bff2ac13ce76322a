"""MRZ parse, check digits and comparison with the application (documents/reading, issue 23).

Zones are made with `mrz`'s generator, so every check digit is the standard's; OCR-like damage is
applied by hand to show which misreads are repaired and which become "no se pudo leer"."""
from datetime import date

import pytest
from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator
from stdnum.mx import curp as stdnum_curp

from registro.documents.reading import compare, curp_document, mrz_text, names
from registro.documents.reading.compare import COINCIDE, NO_APLICA, NO_COINCIDE, NO_LEIDO, Declared

TODAY = date(2026, 6, 1)


def curp(first17: str) -> str:
    return first17 + stdnum_curp.calc_check_digit(first17 + "0")


CURP_JOSE = curp("GALJ800101HDFRPS0")  # born 1980-01-01, man
CURP_ANA = curp("PEXA050317MDFXXNA")  # born 2005-03-17 (letter in the 17th: 2000s), woman


def ine(surname="GARCIA LOPEZ", given="JOSE MARIA", birth="800101", sex="M", expiry="311231",
        number="123456789") -> str:
    return str(TD1CodeGenerator("ID", "MEX", number, birth, sex, expiry, "MEX", surname, given, "<<1234567890123"))


def passport(surname="SMITH", given="JOHN PAUL", number="X12345678", country="USA", birth="800101", sex="M",
             expiry="300615") -> str:
    return str(TD3CodeGenerator("P", country, surname, given, number, country, birth, sex, expiry, ""))


# --- parse and check digits ----------------------------------------------------------------------
def test_an_ine_zone_gives_every_field():
    read = mrz_text.parse(ine())
    assert read is not None and read.is_ine and read.format == mrz_text.TD1
    assert (read.document_number, read.birth_date, read.sex, read.expiry_date, read.nationality) == \
           ("123456789", "800101", "M", "311231", "MEX")
    assert (read.surname, read.given_names, read.names_truncated, read.names_reliable) == \
           ("GARCIA LOPEZ", "JOSE MARIA", False, True)


def test_a_passport_zone_gives_every_field():
    read = mrz_text.parse(passport())
    assert read is not None and read.format == mrz_text.TD3 and not read.is_ine
    assert (read.document_type, read.document_number, read.nationality, read.expiry_date) == \
           ("P", "X12345678", "USA", "300615")
    assert (read.surname, read.given_names) == ("SMITH", "JOHN PAUL")


@pytest.mark.parametrize("line, position, wrong", [
    (1, 2, "7"),  # a digit of the birth date
    (1, 9, "9"),  # a digit of the expiry date
    (0, 8, "0"),  # a digit of the document number
])
def test_a_misread_digit_fails_its_check_and_nothing_is_reported(line, position, wrong):
    lines = ine().splitlines()
    assert lines[line][position] != wrong
    lines[line] = lines[line][:position] + wrong + lines[line][position + 1:]
    assert mrz_text.read_zone(lines) is None


def test_ocr_confusions_in_digit_positions_are_repaired_and_then_verified():
    lines = ine(birth="800101", expiry="311231").splitlines()
    damaged = ["INSTITUTO NACIONAL ELECTORAL", "MEXICO",  # other text of the card
               lines[0].replace("IDMEX1", "IDMEXI"),  # "1" read as "I" in the document number
               lines[1].replace("800101", "8OO1O1").replace("MEX<<<<<<", "MEX<<<<<"),  # O for 0; a filler short
               lines[2].lower().replace(" ", "") + "<<"]  # a filler run too long, lower case
    read = mrz_text.read_zone(damaged)
    assert read is not None
    assert (read.document_number, read.birth_date, read.surname) == ("123456789", "800101", "GARCIA LOPEZ")
    assert read.names_reliable


def test_a_digit_in_the_name_line_makes_the_names_unreliable():
    lines = ine().splitlines()
    lines[2] = lines[2].replace("JOSE", "J05E")
    read = mrz_text.read_zone(lines)
    assert read is not None and read.birth_date == "800101"
    assert not read.names_reliable
    verdict = field(compare.compare_identity(read, Declared("José María", "García López", CURP_JOSE), TODAY),
                    "nombre")
    assert verdict.outcome == NO_LEIDO


def test_lines_of_other_lengths_are_not_a_zone():
    assert mrz_text.read_zone(["IDMEX123", "NOT A ZONE AT ALL", "<<<<"]) is None
    assert mrz_text.read_zone([]) is None


def test_guillemets_and_brackets_read_for_filler_become_filler():
    lines = passport().splitlines()
    lines[0] = lines[0].replace("<<", "«", 1)
    lines[1] = lines[1].replace("<", "(", 2)
    read = mrz_text.read_zone(lines)
    assert read is not None and read.surname == "SMITH"


def test_unspecified_sex_is_x():
    read = mrz_text.parse(passport(sex="<"))
    assert read is not None and read.sex == "X"


# --- names -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("given, surnames, mrz_surname, mrz_given", [
    ("José María", "García López", "GARCIA LOPEZ", "JOSE MARIA"),  # accents
    ("Ana", "Peña Núñez", "PENA NUNEZ", "ANA"),  # Ñ as N (ICAO)
    ("Ana", "Peña Núñez", "PEXA NUXEZ", "ANA"),  # Ñ as X (some issuers)
    ("Ana", "Peña", "PENXXA", "ANA"),  # Ñ as NXX
    ("María de los Ángeles", "de la Cruz Hernández", "DE LA CRUZ HERNANDEZ", "MARIA DE LOS ANGELES"),  # compound
    ("María de los Ángeles", "Hernández", "DE LOS ANGELES HERNANDEZ", "MARIA"),  # split differently
    ("Hernández García", "José", "HERNANDEZ GARCIA", "JOSE"),  # fields swapped on the form
    ("Sean", "O'Brien", "OBRIEN", "SEAN"),  # apostrophe dropped
    ("Ana-Sofía", "Ruiz", "RUIZ", "ANA SOFIA"),  # hyphen as "<"
    ("Jiménez", "", "JIMENEZ", ""),  # one-name person: all of it in the primary identifier
])
def test_names_that_are_the_same_person_match(given, surnames, mrz_surname, mrz_given):
    match = names.compare(given, surnames, mrz_surname, mrz_given)
    assert match.matches, match


def test_one_misread_letter_is_a_near_match_with_its_distance():
    match = names.compare("José María", "García López", "GARCIA LOPES", "JOSE MARIA")
    assert match.matches and match.distance == 1


@pytest.mark.parametrize("given, surnames, mrz_surname, mrz_given", [
    ("Juan Carlos", "García López", "GARCIA LOPEZ", "JOSE MARIA"),
    ("Ana", "Pérez", "MARTINEZ", "LUISA"),
    ("José María", "García López", "GARCIA", "JOSE"),  # half the name missing
])
def test_different_names_do_not_match(given, surnames, mrz_surname, mrz_given):
    assert not names.compare(given, surnames, mrz_surname, mrz_given).matches


def test_a_truncated_name_matches_the_start_of_the_declared_one():
    # `mrz`'s generator refuses names longer than the line; ICAO cuts them (the line has no check digit).
    lines = ine().splitlines()
    lines[2] = "HERNANDEZ<FERNANDEZ<<MARIA<GUADALUPE<DEL<SAGRADO<CORAZON"[:30]
    read = mrz_text.parse("\n".join(lines))
    assert read is not None and read.names_truncated
    assert names.compare("María Guadalupe del Sagrado Corazón", "Hernández Fernández", read.surname,
                         read.given_names, truncated=True).matches


# --- comparison with the application ---------------------------------------------------------------
def field(comparison, key):
    return next(f for f in comparison.fields if f.key == key)


def test_an_ine_that_agrees_with_the_application():
    read = mrz_text.parse(ine())
    result = compare.compare_identity(read, Declared("José María", "García López", curp=CURP_JOSE, pais="MX",
                                                     tipo_identificacion="ine", vigencia="2031-06-30"), TODAY)
    outcomes = {f.key: f.outcome for f in result.fields}
    assert outcomes == {"tipo": COINCIDE, "nombre": COINCIDE, "nacimiento": COINCIDE, "sexo": COINCIDE,
                        "vigencia": COINCIDE, "numero": NO_APLICA, "nacionalidad": COINCIDE}
    assert result.reasons == () and result.read
    assert field(result, "nacimiento").read == "01/01/1980"


def test_a_mismatching_name_suggests_the_data_reason():
    read = mrz_text.parse(ine(surname="MARTINEZ RUIZ", given="PEDRO"))
    result = compare.compare_identity(read, Declared("José María", "García López", curp=CURP_JOSE,
                                                     tipo_identificacion="ine", vigencia="2031-12-31"), TODAY)
    assert field(result, "nombre").outcome == NO_COINCIDE
    assert result.reasons == (compare.REASON_MISMATCH,)


def test_birth_date_and_sex_against_the_curp():
    read = mrz_text.parse(ine(surname="PEREZ", given="ANA", birth="050317", sex="F"))
    ana = Declared("Ana", "Pérez", curp=CURP_ANA, tipo_identificacion="ine", vigencia="2031-01-01")
    result = compare.compare_identity(read, ana, TODAY)
    assert field(result, "nacimiento").outcome == COINCIDE and field(result, "nacimiento").read == "17/03/2005"
    assert field(result, "sexo").outcome == COINCIDE
    other = mrz_text.parse(ine(surname="PEREZ", given="ANA", birth="050318", sex="M"))
    result = compare.compare_identity(other, ana, TODAY)
    assert field(result, "nacimiento").outcome == NO_COINCIDE and field(result, "sexo").outcome == NO_COINCIDE


def test_an_ine_is_compared_by_year_and_a_passport_by_date():
    ine_read = mrz_text.parse(ine(expiry="311231"))
    declared = Declared("José María", "García López", CURP_JOSE, tipo_identificacion="ine", vigencia="2031-03-01")
    assert field(compare.compare_identity(ine_read, declared, TODAY), "vigencia").outcome == COINCIDE
    declared = Declared("José María", "García López", CURP_JOSE, tipo_identificacion="ine", vigencia="2030-12-31")
    assert field(compare.compare_identity(ine_read, declared, TODAY), "vigencia").outcome == NO_COINCIDE
    pass_read = mrz_text.parse(passport(expiry="300615"))
    foreigner = Declared("John Paul", "Smith", pasaporte="X12345678", pais="US", es_extranjero=True,
                         tipo_identificacion="pasaporte", vigencia="2030-06-16")
    assert field(compare.compare_identity(pass_read, foreigner, TODAY), "vigencia").outcome == NO_COINCIDE


def test_an_expired_document_suggests_the_expired_reason():
    read = mrz_text.parse(ine(expiry="251231"))
    result = compare.compare_identity(read, Declared("José María", "García López", CURP_JOSE,
                                                     tipo_identificacion="ine", vigencia="2025-12-31"), TODAY)
    assert compare.REASON_EXPIRED in result.reasons


def test_a_foreigners_passport_number_and_nationality():
    read = mrz_text.parse(passport())
    ok = Declared("John Paul", "Smith", pasaporte="x1234-5678", pais="US", es_extranjero=True,
                  tipo_identificacion="pasaporte", vigencia="2030-06-15")
    result = compare.compare_identity(read, ok, TODAY)
    assert field(result, "numero").outcome == COINCIDE and field(result, "nacionalidad").outcome == COINCIDE
    assert field(result, "nacimiento").outcome == NO_APLICA  # no CURP to compare with
    wrong = Declared("John Paul", "Smith", pasaporte="X12345679", pais="CA", es_extranjero=True,
                     tipo_identificacion="pasaporte", vigencia="2030-06-15")
    result = compare.compare_identity(read, wrong, TODAY)
    assert field(result, "numero").outcome == NO_COINCIDE and field(result, "nacionalidad").outcome == NO_COINCIDE
    assert result.reasons == (compare.REASON_MISMATCH,)


def test_germany_is_d_in_a_zone():
    read = mrz_text.parse(passport(country="D"))
    assert read is not None
    result = compare.compare_identity(read, Declared("John Paul", "Smith", pais="DE", es_extranjero=True), TODAY)
    assert field(result, "nacionalidad").outcome == COINCIDE


def test_a_passport_where_an_ine_was_declared_is_the_wrong_document():
    read = mrz_text.parse(passport(country="MEX", number="G12345678"))
    result = compare.compare_identity(read, Declared("John Paul", "Smith", tipo_identificacion="ine"), TODAY)
    assert field(result, "tipo").outcome == NO_COINCIDE
    assert result.reasons[0] == compare.REASON_WRONG_DOCUMENT


def test_an_unread_zone_is_no_se_pudo_leer_for_every_field_and_suggests_nothing():
    result = compare.compare_identity(None, Declared("Ana", "Pérez", CURP_ANA), TODAY)
    assert not result.read and result.reasons == ()
    assert {f.outcome for f in result.fields} == {NO_LEIDO}
    assert result.fields[0].outcome_label == "No se pudo leer"


# --- the CURP document -------------------------------------------------------------------------------
def test_the_curp_in_the_documents_text():
    text = f"CONSTANCIA DE LA CLAVE ÚNICA DE REGISTRO DE POBLACIÓN\nClave:\n{CURP_JOSE}\nNombre JOSE MARIA"
    assert curp_document.curps_in_text(text) == [CURP_JOSE]
    assert field(curp_document.compare_curp_document(text, CURP_JOSE), "curp").outcome == COINCIDE
    result = curp_document.compare_curp_document(text, CURP_ANA)
    assert field(result, "curp").outcome == NO_COINCIDE and result.reasons == (compare.REASON_MISMATCH,)


def test_a_curp_with_a_wrong_check_digit_is_not_read():
    wrong = CURP_JOSE[:-1] + str((int(CURP_JOSE[-1]) + 1) % 10)
    assert curp_document.curps_in_text(f"Clave: {wrong}") == []
    assert field(curp_document.compare_curp_document(f"Clave: {wrong}", CURP_JOSE), "curp").outcome == NO_LEIDO


def test_a_scan_without_text_is_no_se_pudo_leer():
    result = curp_document.compare_curp_document(None, CURP_JOSE)
    assert field(result, "curp").outcome == NO_LEIDO and "escaneada" in field(result, "curp").detail


def test_a_zero_read_for_the_letter_o_in_a_name_is_still_reliable():
    # OCR-B's "0" and "O" differ by a few pixels and a name never holds a digit.
    lines = ine(surname="OCHOA RUIZ").splitlines()
    lines[2] = lines[2].replace("OCHOA", "0CH0A")
    read = mrz_text.read_zone(lines)
    assert read is not None and read.names_reliable and read.surname == "OCHOA RUIZ"
