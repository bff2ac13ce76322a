"""Issue 11, items 9 and 17: CURPs with the sex marker X, pasted CURP/RFC values, and what a
malformed RFC homoclave is told."""
import re

import pytest
from stdnum.mx import curp as stdnum_curp

from keycloak_ext.gateway import Account
from registro.domain import checks
from registro.domain.identifiers import IdentifierInvalid, validate_curp, validate_rfc
from tests.support.registration import (
    CURP, RFC, curp_with_check, field_error, mexican_form, post_registration, rfc_with_check, wrong_check,
)
from tests.unit.test_registration_form import only_account, page_text

# RENAPO issues X in the sex position (non-binary marker) since 2023. stdnum's calc_check_digit is
# right for it (X is in its alphabet); only its validate() refuses the X, hence the vector is built
# with calc_check_digit and checked against stdnum's refusal below.
CURP_X = curp_with_check("PELA800101XDFRPN0")


def test_stdnum_itself_refuses_the_x_marker():
    """The reason for our own check: if stdnum learns X, this test tells us to drop the workaround."""
    assert not stdnum_curp.is_valid(CURP_X)


def test_curp_with_x_in_the_sex_position_is_accepted():
    assert validate_curp(CURP_X) == CURP_X


def test_curp_with_x_still_has_its_check_digit_checked():
    with pytest.raises(IdentifierInvalid) as caught:
        validate_curp(wrong_check(CURP_X))
    assert "dígito verificador" in caught.value.message


def test_other_letters_in_the_sex_position_are_refused_naming_h_m_or_x():
    with pytest.raises(IdentifierInvalid) as caught:
        validate_curp(curp_with_check("PELA800101ZDFRPN0"))
    assert "sexo H, M o X" in caught.value.message


def test_the_reviewer_check_accepts_a_curp_with_x():
    account = Account(id="a1", username="pela", email="a@example.com", first_name="Ana", last_name="Peña",
                      enabled=False, email_verified=True, created_ms=0,
                      attributes={"curp": CURP_X, "rfc": rfc_with_check("PELA800101AB")})
    found = checks._check_identifiers(checks.Application(account))  # noqa: SLF001
    curp_check = next(c for c in found if c.name == "CURP válida")
    assert curp_check.outcome == checks.OK, curp_check


@pytest.mark.parametrize("pasted", [
    f"  {CURP.lower()}  ",
    f"\u00a0{CURP[:4]} {CURP[4:10]} {CURP[10:]}\u00a0",  # no-break spaces around, spaces inside (from a PDF)
    f"{CURP}\n",
    f"\u200b{CURP}\t",
])
def test_pasted_curp_is_normalised(pasted):
    assert validate_curp(pasted) == CURP


@pytest.mark.parametrize("pasted", [f"  {RFC.lower()} ", f"{RFC[:4]} {RFC[4:10]} {RFC[10:]}", f"\u00a0{RFC}\r\n"])
def test_pasted_rfc_is_normalised(pasted):
    assert validate_rfc(pasted).rfc == RFC


def test_pasted_values_register_and_the_form_does_not_cut_them(client, fakes):
    page = page_text(client.get("/registro"))
    for name in ("curp", "rfc"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
        # A maxlength of 18/13 cuts "  curp  " or "PELA 800101 …" while pasting, before the server sees it.
        assert "maxlength" not in tag, tag
    r = post_registration(client, mexican_form(curp=f"  {CURP[:4].lower()} {CURP[4:]} ", rfc=f" {RFC.lower()} "))
    assert r.status_code == 302, page_text(r)
    account = only_account(fakes)
    assert account.attributes["curp"] == CURP and account.attributes["rfc"] == RFC


def test_registration_with_a_curp_carrying_x(client, fakes):
    r = post_registration(client, mexican_form(curp=CURP_X))
    assert r.status_code == 302, page_text(r)
    assert only_account(fakes).attributes["curp"] == CURP_X


# --- item 17 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rfc, says", [
    ("DIRA870101X95", "primer carácter (el 11.º del RFC, «X»)"),
    ("DIRA870101W95", "primer carácter (el 11.º del RFC, «W»)"),
    ("DIRA870101005", "primer carácter (el 11.º del RFC, «0»)"),
    ("DIRA870101A05", "segundo carácter (el 12.º del RFC, «0»)"),
    ("DIRA870101ABZ", "dígito verificador y solo puede ser un dígito o la letra A"),
])
def test_malformed_homoclave_says_what_is_wrong(rfc, says):
    with pytest.raises(IdentifierInvalid) as caught:
        validate_rfc(rfc)
    assert says in caught.value.message
    assert "no coincide" not in caught.value.message


def test_malformed_homoclave_on_the_form_is_an_error_not_a_confirmation(client, fakes):
    curp = curp_with_check("DIRA870101HDFRPN0")
    page = page_text(post_registration(client, mexican_form(curp=curp, rfc="DIRA870101X95")))
    assert "homoclave del RFC no es válida" in (field_error(page, "rfc") or "")
    assert field_error(page, "rfc_confirmado") is None
    assert not fakes.identity.accounts


def test_a_well_formed_homoclave_with_a_wrong_check_digit_still_only_asks_to_confirm():
    result = validate_rfc(wrong_check(rfc_with_check("DIRA870101B9")))
    assert result.check_digit_ok is False
