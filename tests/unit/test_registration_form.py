"""The registration page with in-memory fakes: fields, Spanish errors, accessibility wiring, outcomes."""
import html
import re

import pytest

from keycloak_ext.catalog import USER_TYPE_SLUGS, group_path_of
from registro.registration.forms import LEGEND, RFC_CONFIRM_LABEL
from tests.support.registration import (
    CURP, RFC, field_error, foreign_form, mexican_form, post_registration, rfc_with_check, wrong_check,
)

MANUAL_ORDER = ["Tipo de usuario", "¿Es extranjero?", "CURP", "RFC", "Nombre", "Apellidos", "Correo electrónico",
                "País", "Estado", "Localidad", "Colonia", "Código postal", "Número exterior", "Calle"]


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def only_account(fakes):
    assert len(fakes.identity.accounts) == 1
    return next(iter(fakes.identity.accounts.values()))


def test_form_shows_every_field_in_the_manual_order_with_legend_and_button(client):
    r = client.get("/registro")
    assert r.status_code == 200
    page = page_text(r)
    labels = re.findall(r'<label for="[^"]+">([^<]+)', page)
    assert [label for label in labels if label in MANUAL_ORDER] == MANUAL_ORDER
    assert "TAX ID" in labels and "Pasaporte" in labels
    assert LEGEND == "Los campos marcados con (*) son de carácter obligatorio." and LEGEND in page
    assert re.search(r'<input[^>]*type="submit"[^>]*value="Registrar"', page)
    assert 'name="csrf_token"' in page and "js/registro.js" in page
    for label in ("Agente Aduanal", "Apoderado de Almacén General de Depósito", "Transportista"):
        assert f">{label}</option>" in page
    assert len(re.findall(r'<option value="[a-z_]+">', page)) == 11, "the 11 user types"
    assert "Ciudad de México" in page and "Yucatán" in page and ">Estados Unidos</option>" in page
    assert re.search(r'<option selected value="MX">México</option>', page)


def test_required_fields_carry_the_asterisk(client):
    page = page_text(client.get("/registro"))
    for label in ("Tipo de usuario", "CURP", "RFC", "Nombre", "Apellidos", "Correo electrónico", "Estado",
                  "Localidad", "Colonia", "Código postal", "Número exterior", "Calle", "TAX ID", "Pasaporte"):
        assert re.search(rf'>{re.escape(label)}<span class="obligatorio"[^>]*>\*</span>', page), label
    assert not re.search(r'>País<span class="obligatorio"', page)


def test_empty_form_lists_spanish_errors_next_to_each_field_and_focuses_the_first(client, fakes):
    r = post_registration(client, {})
    page = page_text(r)
    assert r.status_code == 200 and not fakes.identity.accounts
    assert field_error(page, "tipo_usuario") == "Seleccione el tipo de usuario."
    assert field_error(page, "curp") == "Escriba su CURP."
    assert field_error(page, "rfc") == "Escriba su RFC."
    assert field_error(page, "nombre") == "Escriba su nombre."
    assert field_error(page, "apellidos") == "Escriba sus apellidos."
    assert field_error(page, "email") == "Escriba su correo electrónico."
    assert field_error(page, "estado") == "Seleccione su entidad federativa."
    assert field_error(page, "calle") == "Escriba su calle."
    assert field_error(page, "tax_id") is None, "TAX ID is asked of foreigners only"
    # The first invalid field gets the focus and points at its error; a summary links every error.
    first = re.search(r'<select[^>]*id="tipo_usuario"[^>]*>', page).group(0)
    assert "autofocus" in first and 'aria-invalid="true"' in first and 'aria-describedby="tipo_usuario-error"' in first
    assert page.count("autofocus") == 1
    assert 'role="alert"' in page and '<a href="#tipo_usuario">' in page and '<a href="#calle">' in page


def test_typed_values_are_kept_when_something_is_wrong(client):
    page = page_text(post_registration(client, mexican_form(curp=wrong_check(CURP), codigo_postal="4410")))
    assert f'value="{wrong_check(CURP)}"' in page and 'value="Peña Núñez"' in page and 'value="Av. Juárez"' in page
    assert "dígito verificador de la CURP" in field_error(page, "curp")
    assert field_error(page, "codigo_postal") == "El código postal debe tener 5 dígitos."
    assert re.search(r'<option selected value="Jalisco">', page)
    curp_input = re.search(r'<input[^>]*id="curp"[^>]*>', page).group(0)
    assert "autofocus" in curp_input and 'aria-describedby="curp-error curp-ayuda"' in curp_input


def assert_user_type_through_its_group(identity, account_id: str, slug: str) -> None:
    """The account holds exactly its user type's role, effectively, through its group: no direct
    mapping, and no role-mapping call was made (SPEC §4 holds with one Keycloak call fewer)."""
    assert identity.realm_roles_of(account_id) & USER_TYPE_SLUGS == {slug}
    assert identity.memberships[account_id] == {group_path_of(slug)}
    assert identity.roles[account_id] == set()
    assert identity.calls.get("assign_realm_role", 0) == 0


def test_valid_mexican_registration_creates_a_disabled_account_with_attributes_and_role(client, fakes):
    r = post_registration(client, mexican_form(email="Ana.Pena@Example.COM"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/registro/enviado")
    account = only_account(fakes)
    assert account.enabled is False and account.username == RFC.lower() and account.email == "ana.pena@example.com"
    assert (account.first_name, account.last_name) == ("Ana María", "Peña Núñez")
    a = account.attributes
    assert a["tipo_usuario"] == "agente_aduanal" and a["es_extranjero"] == "false" and a["pais"] == "MX"
    assert a["curp"] == CURP and a["rfc"] == RFC and a["estatus"] == "pendiente_correo"
    assert a["estado"] == "Jalisco" and a["codigo_postal"] == "44100" and a["numero_exterior"] == "12-B"
    assert re.fullmatch(r"AU-\d{4}-[0-9A-HJKMNP-TV-Z]{8}", a["folio"]) and a["fecha_registro"] and a["enlace_version"]
    assert "rfc_digito_no_coincide" not in a and "tax_id" not in a and "pasaporte" not in a
    assert_user_type_through_its_group(fakes.identity, account.id, "agente_aduanal")
    page = page_text(client.get("/registro/enviado"))
    assert ("Se ha enviado un correo para confirmar su identificación. En caso de no recibir el correo, presiona el "
            "botón para volver a enviar el correo.") in page
    assert re.search(r'<button class="boton" type="submit">Reenviar correo</button>', page)


def test_rfc_check_digit_mismatch_asks_for_confirmation_then_flags_the_application(client, fakes):
    odd_rfc = wrong_check(RFC)
    page = page_text(post_registration(client, mexican_form(rfc=odd_rfc)))
    assert not fakes.identity.accounts
    assert RFC_CONFIRM_LABEL in page and "Confirmo que mi RFC es correcto" in page
    assert "no coincide con el cálculo oficial" in field_error(page, "rfc_confirmado")
    assert "autofocus" in re.search(r'<input[^>]*id="rfc_confirmado"[^>]*>', page).group(0)
    r = post_registration(client, mexican_form(rfc=odd_rfc, rfc_confirmado="y"))
    assert r.status_code == 302
    account = only_account(fakes)
    assert account.attributes["rfc"] == odd_rfc and account.attributes["rfc_digito_no_coincide"] == "true"


def test_curp_and_rfc_birth_dates_must_agree(client, fakes):
    page = page_text(post_registration(client, mexican_form(rfc=rfc_with_check("PELA800102AB"))))
    assert field_error(page, "rfc") == "La fecha de nacimiento del RFC no coincide con la de la CURP."
    assert not fakes.identity.accounts


def test_letters_of_curp_and_rfc_may_differ(client, fakes):
    assert post_registration(client, mexican_form(rfc=rfc_with_check("PXLA800101AB"))).status_code == 302
    assert only_account(fakes).attributes["rfc"] == rfc_with_check("PXLA800101AB")


@pytest.mark.parametrize("changes, field, message", [
    ({"nombre": "Ana3"}, "nombre", "solo admite letras"),
    ({"apellidos": "<b>"}, "apellidos", "solo admite letras"),
    ({"email": "ana@"}, "email", "correo electrónico válido"),
    ({"pais": "US"}, "pais", "marque «¿Es extranjero?»"),
    ({"estado": "Texas"}, "estado", "entidad federativa"),
    ({"tipo_usuario": "revisor"}, "tipo_usuario", "tipo de usuario"),
    ({"curp": "PELA800101HZZRPN06"}, "curp", "entidad federativa"),
    ({"rfc": rfc_with_check("PELA801301AB")}, "rfc", "fecha"),
    ({"localidad": "x" * 101}, "localidad", "100 caracteres"),
])
def test_each_rule_refuses_with_a_spanish_message_on_its_field(client, fakes, changes, field, message):
    page = page_text(post_registration(client, mexican_form(**changes)))
    assert message in (field_error(page, field) or ""), page
    assert not fakes.identity.accounts


def test_names_keep_accents_enye_and_apostrophes(client, fakes):
    post_registration(client, mexican_form(nombre="  María José ", apellidos="O'Higgins-Ñúñez Güemes"))
    account = only_account(fakes)
    assert (account.first_name, account.last_name) == ("María José", "O'Higgins-Ñúñez Güemes")


def test_foreigner_without_curp_gets_a_generated_username(client, fakes):
    r = post_registration(client, foreign_form(pasaporte="x 123-4567"))
    assert r.status_code == 302
    account = only_account(fakes)
    assert re.fullmatch(r"ext[0-9a-hjkmnp-tv-z]{8}", account.username)
    a = account.attributes
    assert a["es_extranjero"] == "true" and a["pais"] == "US" and a["estado"] == "Texas"
    assert a["tax_id"] == "12-3456789" and a["pasaporte"] == "X1234567" and "curp" not in a and "rfc" not in a
    assert_user_type_through_its_group(fakes.identity, account.id, "transportista")


def test_foreigner_with_a_curp_has_it_validated_and_stored(client, fakes):
    page = page_text(post_registration(client, foreign_form(curp=wrong_check(CURP))))
    assert "dígito verificador" in field_error(page, "curp")
    assert post_registration(client, foreign_form(curp=CURP, rfc=RFC)).status_code == 302
    assert only_account(fakes).attributes["curp"] == CURP


@pytest.mark.parametrize("changes, field, message", [
    ({"tax_id": ""}, "tax_id", "Escriba su TAX ID."),
    ({"pasaporte": ""}, "pasaporte", "Escriba el número de su pasaporte."),
    ({"pais": "MX"}, "pais", "distinto de México"),
    ({"estado_extranjero": ""}, "estado_extranjero", "Escriba su estado, provincia o región."),
    ({"codigo_postal": "#1"}, "codigo_postal", "hasta 12"),
])
def test_foreign_rules(client, fakes, changes, field, message):
    page = page_text(post_registration(client, foreign_form(**changes)))
    assert message in (field_error(page, field) or ""), page
    assert not fakes.identity.accounts


def test_csrf_token_is_required(client, fakes):
    r = client.post("/registro", data=mexican_form())
    assert r.status_code == 400 and "El formulario expiró" in page_text(r)
    assert not fakes.identity.accounts


def _selects(page: str) -> list[str]:
    return re.findall(r"<select.*?</select>", page, flags=re.S)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_remembered_option_tags_are_exactly_what_wtforms_renders(app, client, monkeypatch, lang):
    """The selects' <option> tags are built once per process (CPU of every GET of the form): the page must
    be the one wtforms' own Select gives — selection, escaping and the English labels included."""
    from wtforms.widgets import Select

    from registro.registration import forms as form_module

    def pages() -> list[list[str]]:
        client.get(f"/registro?lang={lang}")
        return [_selects(page_text(client.get("/registro"))),
                _selects(page_text(post_registration(client, mexican_form(estado="Nuevo León", curp="X"))))]

    remembered = pages()
    remembered_again = pages()  # now from the cache
    monkeypatch.setattr(form_module.RememberedOptions, "render_option", Select.render_option)
    plain = pages()
    assert remembered == remembered_again == plain
    assert len(plain[0]) == 3 and any('<option selected value="Nuevo León">' in s for s in plain[1])


def test_remembered_option_tags_keep_markup_labels_apart_from_plain_ones():
    from markupsafe import Markup
    from wtforms.fields.choices import Choice
    from wtforms.widgets import Select

    from registro.registration.forms import RememberedOptions

    for choice in (Choice("a", "A &amp; B", False, None), Choice("a", Markup("A &amp; B"), False, None),
                   Choice("b", "Bé", True, None), Choice("c", "C", False, {"data-x": "1"})):
        assert RememberedOptions.render_option(choice) == Select.render_option(choice), choice


def test_wtforms_messages_follow_the_page_language_from_one_catalogue_per_language(app, monkeypatch):
    """Flask-WTF read WTForms' catalogue from disk on every request that built a form; it is read
    once per process and language now, and a language switched during the request is honoured."""
    from babel import support
    from werkzeug.datastructures import MultiDict
    from wtforms import StringField
    from wtforms.validators import DataRequired

    from registro import i18n
    from registro.web import form_base as base

    class Probe(base.Form):
        campo = StringField("Campo", validators=[DataRequired()])

    loads = []
    real_load = support.Translations.load
    monkeypatch.setattr(support.Translations, "load",
                        classmethod(lambda cls, *a, **kw: loads.append(a[1]) or real_load(*a, **kw)))
    base.wtforms_catalogue.cache_clear()

    def errors(path: str, switch_to: str | None = None) -> list[str]:
        with app.test_request_context(path, method="POST"):
            form = Probe(formdata=MultiDict(), meta={"csrf": False})
            if switch_to:
                i18n.use_locale(switch_to)
            form.validate()
            return form.campo.errors

    for _ in range(3):
        assert errors("/registro") == ["Este campo es obligatorio."]
    assert errors("/registro?lang=en") == ["This field is required."]
    assert errors("/activar", switch_to="en") == ["This field is required."]
    assert loads == [["es"], ["en"]]


def test_blank_form_is_rendered_once_per_language_and_carries_each_visitor_s_own_token(app, fakes):
    """The blank page is the template's output joined around each view's CSRF token: the template
    runs once per language, every visitor gets a token of their own session that the POST accepts."""
    from flask import template_rendered

    from tests.support.registration import csrf_token

    rendered = []
    record = lambda sender, template, context, **extra: rendered.append(template.name)  # noqa: E731
    with template_rendered.connected_to(record, app):
        visitors = [app.test_client() for _ in range(3)]
        pages = [v.get("/registro").get_data(as_text=True) for v in visitors]
        tokens = [csrf_token(p) for p in pages]
        assert rendered.count("registro/formulario.html") == 1
        assert len(set(tokens)) == 3 and len({p.replace(t, "") for p, t in zip(pages, tokens)}) == 1
        assert "Registro de usuarios" in pages[0] and 'lang="es-MX"' in pages[0]

        english = app.test_client()
        english.get("/registro?lang=en")  # with a query string: the template, and the cookie is set
        english_page = english.get("/registro").get_data(as_text=True)
        assert 'lang="en"' in english_page and "Registro de usuarios" not in english_page
        english.get("/registro")
        assert rendered.count("registro/formulario.html") == 3  # ?lang=en, then once for English

    r = visitors[1].post("/registro", data={**mexican_form(), "csrf_token": tokens[1]})
    assert r.status_code == 302 and len(fakes.identity.accounts) == 1
    r = visitors[2].post("/registro", data={**mexican_form(email="otra@example.com"), "csrf_token": tokens[0]})
    assert r.status_code == 400 and "El formulario expiró" in page_text(r)  # another visitor's token
    assert len(fakes.identity.accounts) == 1


def test_blank_form_is_not_served_over_a_pending_message(app):
    from registro.web import blank_form

    with app.test_request_context("/registro"):
        from flask import flash
        assert blank_form.can_serve()
        flash("Aviso pendiente", "exito")
        assert not blank_form.can_serve()
    with app.test_request_context("/registro", method="POST"):
        assert not blank_form.can_serve()


def test_blank_form_keeps_a_bounded_number_of_pages_whatever_mount_point_a_request_claims(app):
    """gunicorn takes SCRIPT_NAME from a request header: a client naming ever new mount points must not
    grow the process's memory (nor get another visitor's page)."""
    from registro.web import blank_form

    client = app.test_client()
    for i in range(3 * blank_form.MAX_PAGES):
        r = client.get(f"/p{i}/registro", environ_overrides={"SCRIPT_NAME": f"/p{i}", "PATH_INFO": "/registro"})
        assert r.status_code == 200 and f'action="/p{i}/registro"' in r.get_data(as_text=True)
    assert len(app.extensions["registro.blank_form"]) == blank_form.MAX_PAGES
