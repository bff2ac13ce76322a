"""CURP, RFC, names, postal codes and foreign identifiers (domain/identifiers.py)."""
import random

import pytest
from stdnum.mx import curp as stdnum_curp
from stdnum.mx import rfc as stdnum_rfc

from registro.domain import geography
from registro.domain.identifiers import (
    IdentifierInvalid, birth_dates_agree, first_ten_agree, name_key, validate_curp, validate_foreign_postal_code,
    validate_mexican_postal_code, validate_name, validate_passport, validate_rfc, validate_tax_id,
)
from tests.support.registration import curp_with_check, random_person, rfc_with_check, wrong_check

VALID_CURPS = [
    "BOXW310820HNERXN09",  # python-stdnum's own example (born abroad: NE)
    curp_with_check("PELA800101HDFRPN0"),
    curp_with_check("HEGG560427MVZRRL0"),
    curp_with_check("GOCJ050312HJCNRNA"),  # born in 2005: the 17th character is a letter
    curp_with_check("MAXR991231MMCRRS0"),  # X as the first inner vowel (no vowel in the surname)
    curp_with_check("NUÑA800101HDFRPN0".replace("Ñ", "X")),
]


@pytest.mark.parametrize("curp", VALID_CURPS)
def test_valid_curps_are_accepted(curp):
    assert stdnum_curp.is_valid(curp), "the vector itself is valid for stdnum"
    assert validate_curp(curp) == curp


def test_curp_is_cleaned_and_capitalized():
    curp = VALID_CURPS[1]
    assert validate_curp(f"  {curp.lower()[:9]}-{curp.lower()[9:]} ") == curp


@pytest.mark.parametrize("curp, message", [
    (wrong_check(VALID_CURPS[1]), "dígito verificador"),
    (wrong_check(VALID_CURPS[2]), "dígito verificador"),
    (curp_with_check("PELA801301HDFRPN0"), "fecha"),  # month 13
    (curp_with_check("PELA800230HDFRPN0"), "fecha"),  # 30 February
    (curp_with_check("PELA810229HDFRPN0"), "fecha"),  # 1981 is not a leap year
    (curp_with_check("PELA800101HZZRPN0"), "entidad"),  # no such state code
    (curp_with_check("PELA800101HXXRPN0"), "entidad"),
    (curp_with_check("PELA800101ZDFRPN0"), "estructura"),  # sex must be H, M or X (X: RENAPO, since 2023)
    (curp_with_check("PBLA800101HDFRPN0"), "estructura"),  # second character must be a vowel or X
    ("PELA800101HDFRPN0", "18 caracteres"),
    ("PELA800101HDFRPN061", "18 caracteres"),
    ("", "18 caracteres"),
    ("1234567890ABCDEFGH", "estructura"),
])
def test_invalid_curps_are_refused_with_the_reason(curp, message):
    with pytest.raises(IdentifierInvalid) as caught:
        validate_curp(curp)
    assert message in caught.value.message


def test_every_state_code_stdnum_knows_is_an_entidad_or_born_abroad():
    assert geography.CURP_STATE_CODES == frozenset(stdnum_curp._valid_states)
    assert len(geography.ENTIDADES_FEDERATIVAS) == 32


VALID_RFCS = [
    "GODE561231GR8",  # python-stdnum's example
    rfc_with_check("PELA800101AB"),
    rfc_with_check("MUÑO800101AB"),  # Ñ is part of the RFC alphabet
    rfc_with_check("GOCJ050312K7"),
]


@pytest.mark.parametrize("rfc", VALID_RFCS)
def test_valid_rfcs_have_a_computing_check_digit(rfc):
    assert stdnum_rfc.is_valid(rfc, validate_check_digits=True), "the vector itself is valid for stdnum"
    result = validate_rfc(rfc)
    assert result.rfc == rfc and result.check_digit_ok


@pytest.mark.parametrize("rfc", [wrong_check(r) for r in VALID_RFCS])
def test_rfc_whose_check_digit_does_not_compute_is_accepted_but_reported(rfc):
    result = validate_rfc(rfc)
    assert result.rfc == rfc and result.check_digit_ok is False


@pytest.mark.parametrize("rfc, message", [
    (rfc_with_check("PELA801301AB"), "fecha"),
    (rfc_with_check("PELA800230AB"), "fecha"),
    (rfc_with_check("PEL8800101AB"), "estructura"),
    ("PEL800101AB8", "13 caracteres"),  # 12 characters: a company's RFC
    ("PELA800101", "13 caracteres"),  # without homoclave
    ("PELA800101AB8X", "13 caracteres"),
    ("PELA8001O1AB8", "estructura"),  # letter O instead of zero
])
def test_invalid_rfcs_are_refused_with_the_reason(rfc, message):
    with pytest.raises(IdentifierInvalid) as caught:
        validate_rfc(rfc)
    assert message in caught.value.message


def test_birth_dates_of_curp_and_rfc_must_agree():
    curp = VALID_CURPS[1]
    assert birth_dates_agree(curp, rfc_with_check("PELA800101AB"))
    assert birth_dates_agree(curp, rfc_with_check("PXLA800101AB")), "only the date must agree"
    assert not first_ten_agree(curp, rfc_with_check("PXLA800101AB")), "a difference in letters is only a hint"
    assert not birth_dates_agree(curp, rfc_with_check("PELA800102AB"))


def test_random_people_used_by_integration_tests_are_valid():
    rng = random.Random(7)
    for _ in range(200):
        curp, rfc = random_person(rng)
        assert validate_curp(curp) == curp
        assert validate_rfc(rfc).check_digit_ok and birth_dates_agree(curp, rfc)


@pytest.mark.parametrize("name", ["Ana María", "José Ñúñez", "Müller", "O'Neil", "D’Angelo", "Jean-Luc",
                                  "Ma. Guadalupe", "Zoë", "Ávila Güemes"])
def test_names_with_accents_enye_dieresis_and_punctuation_are_accepted(name):
    assert validate_name(f"  {name} ", "Nombre") == name


@pytest.mark.parametrize("name", ["", "   ", "Ana3", "<script>", "Ana_María", "---", "Ana@", "Juan; DROP"])
def test_names_with_other_characters_are_refused(name):
    with pytest.raises(IdentifierInvalid):
        validate_name(name, "Nombre")


def test_decomposed_accents_are_stored_composed():
    assert validate_name("Jose\u0301", "Nombre") == "José"


def test_names_compare_case_and_accent_insensitively():
    assert name_key("  PEÑA  Núñez ") == name_key("pena nunez")
    assert name_key("Müller") == name_key("MULLER")


@pytest.mark.parametrize("cp, ok", [("44100", True), ("01000", True), ("4410", False), ("441000", False),
                                    ("44 100", False), ("ABCDE", False)])
def test_mexican_postal_code_is_five_digits(cp, ok):
    if ok:
        assert validate_mexican_postal_code(cp) == cp
    else:
        with pytest.raises(IdentifierInvalid):
            validate_mexican_postal_code(cp)


def test_foreign_postal_code_passport_and_tax_id():
    assert validate_foreign_postal_code("sw1a 1aa") == "SW1A 1AA"
    assert validate_passport(" x12-345 67 ") == "X1234567"
    assert validate_tax_id("12-3456789") == "12-3456789"
    for rule, value in ((validate_foreign_postal_code, "#123"), (validate_passport, ""),
                        (validate_passport, "X" * 21), (validate_tax_id, ""), (validate_tax_id, "12;34")):
        with pytest.raises(IdentifierInvalid):
            rule(value)
