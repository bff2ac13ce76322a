"""Issue 11, item 10: the form and Keycloak's user profile agree on what they accept — lengths
counted in UTF-16 units like Keycloak, internationalised email domains in their ASCII form — and
any refusal Keycloak still makes lands next to its field instead of a 500."""
from __future__ import annotations

import pytest

from keycloak_ext import IdentityRejected
from registro.domain.identifiers import keycloak_length
from registro.registration.forms import REJECTED_MESSAGE
from tests.fakes import profile_refusals
from tests.support.registration import field_error, foreign_form, mexican_form, post_registration
from tests.unit.test_registration_form import only_account, page_text

FRAKTUR_A = "\U0001d504"  # 𝔄: one code point, two UTF-16 units


def test_keycloak_counts_utf16_units():
    assert keycloak_length("Ana") == 3 and keycloak_length(FRAKTUR_A * 90) == 180
    assert profile_refusals({"localidad": FRAKTUR_A * 90}) == ("localidad",)  # the fake judges like Keycloak


@pytest.mark.parametrize("field", ["localidad", "colonia", "calle", "numero_exterior"])
def test_astral_characters_over_the_limit_are_refused_by_the_form_not_keycloak(client, fakes, field):
    r = post_registration(client, mexican_form(**{field: FRAKTUR_A * 90}))
    page = page_text(r)
    assert r.status_code == 200
    assert "como máximo" in (field_error(page, field) or ""), page[:2000]
    assert not fakes.identity.accounts


def test_astral_characters_within_the_limit_register(client, fakes):
    r = post_registration(client, mexican_form(localidad=FRAKTUR_A * 50))
    assert r.status_code == 302, page_text(r)[:2000]
    assert only_account(fakes).attributes["localidad"] == FRAKTUR_A * 50


def test_internationalised_email_domain_is_stored_in_ascii(client, fakes):
    r = post_registration(client, mexican_form(email="Ana@Bücher.example"))
    assert r.status_code == 302, page_text(r)[:2000]
    assert only_account(fakes).email == "ana@xn--bcher-kva.example"


class RefusingIdentity:
    """Wraps the fake: Keycloak refuses whatever the test names, as its user profile may."""

    def __init__(self, inner, fields):
        self.inner, self.fields = inner, fields

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_account(self, **kwargs):
        raise IdentityRejected("error-invalid-value", self.fields)


@pytest.mark.parametrize("fields, form, where", [
    (("localidad",), mexican_form(), ["localidad"]),
    (("firstName", "calle"), mexican_form(), ["nombre", "calle"]),
    (("email",), mexican_form(), ["email"]),
    (("username",), mexican_form(), ["rfc"]),
    (("estado",), foreign_form(), ["estado_extranjero"]),
    ((), mexican_form(), ["nombre"]),  # Keycloak named nothing: the message still shows, values kept
])
def test_any_keycloak_refusal_is_an_error_next_to_the_field(client, fakes, monkeypatch, fields, form, where):
    from registro.container import adapters  # noqa: PLC0415

    with client.application.app_context():
        a = adapters()
        monkeypatch.setattr(a, "identity", RefusingIdentity(a.identity, fields))
    r = post_registration(client, form)
    page = page_text(r)
    assert r.status_code == 200, page[:1000]
    for name in where:
        assert field_error(page, name) == REJECTED_MESSAGE
    assert f'value="{form["calle"]}"' in page  # the typed values are kept
