"""English for foreign applicants (issue 14 §2): the catalog is complete, compiled, and used."""
from __future__ import annotations

import re

from babel.messages.mofile import read_mo

from registro.i18n import catalog as i18n_catalog
from registro.i18n.extract import is_message, literals
from tests.support.registration import csrf_token, mexican_form

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_spanish_string_has_its_english_entry():
    spanish = i18n_catalog.extract()
    english = i18n_catalog.read("en")
    missing = [m.id for m in spanish if m.id and not (english.get(m.id) and english.get(m.id).string
                                                      and not english.get(m.id).fuzzy)]
    assert not missing, ("Cadenas sin traducción al inglés (python -m registro.i18n.catalog actualizar, "
                         "traduzca en translations/en/LC_MESSAGES/messages.po y compile):\n" + "\n".join(missing))


def test_the_catalog_is_not_trivially_small():
    # A broken babel.cfg would extract nothing and the test above would pass vacuously.
    ids = {m.id for m in i18n_catalog.extract() if m.id}
    assert len(ids) > 250
    for expected in ("Registro de usuarios", "Consultar mi solicitud", "La CURP no es válida.",
                     "Estimad@ %(nombre)s", "Aviso de privacidad integral"):
        assert expected in ids


def test_translations_keep_every_placeholder():
    for message in i18n_catalog.read("en"):
        if message.id and message.string:
            assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), message.id


def test_the_committed_mo_file_is_compiled_from_the_current_po():
    po = i18n_catalog.po_path("en")
    with po.with_suffix(".mo").open("rb") as f:
        committed = {m.id: m.string for m in read_mo(f) if m.id}
    current = {m.id: m.string for m in i18n_catalog.read("en") if m.id and m.string}
    assert committed == current, "messages.mo desactualizado: python -m registro.i18n.catalog compilar"


def test_the_literal_extractor_takes_messages_and_skips_code():
    source = '''
"""Docstring que no es un mensaje."""
import logging
log = logging.getLogger(__name__)
A = "Escriba su CURP."
B = "application/pdf"
C = f"La imagen {x} está dañada."
D = "America/Mexico_City"
log.info("Registro creado %s", 1)
E = ("Texto partido "
     "en dos literales.")
'''
    assert [text for _, text in literals(source)] == ["Escriba su CURP.", "Texto partido en dos literales."]
    assert is_message("¿Es extranjero?") and not is_message("PDF") and not is_message("Content-Type")


# --- the language in use ------------------------------------------------------------------------
def test_spanish_is_the_default_whatever_the_browser_says(client):
    page = client.get("/registro", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="es-MX">' in page and "Registro de usuarios" in page


def test_the_language_switch_is_a_plain_link_and_is_remembered(client):
    page = client.get("/registro").get_data(as_text=True)
    assert 'href="/registro?lang=en"' in page and 'lang="en"' in page
    r = client.get("/registro?lang=en")
    english = r.get_data(as_text=True)
    assert '<html lang="en">' in english and "User registration" in english and "Given name(s)" in english
    assert "Fields marked with (*) are required." in english
    assert "idioma=en" in r.headers["Set-Cookie"]
    later = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in later and "Forgot your password?" in later
    back = client.get("/?lang=es").get_data(as_text=True)
    assert '<html lang="es-MX">' in back and "¿Olvidó su contraseña?" in back


def test_errors_of_the_form_are_shown_in_english(client):
    client.get("/registro?lang=en")
    page = client.get("/registro").get_data(as_text=True)
    data = mexican_form(curp="", csrf_token=csrf_token(page))
    answer = client.post("/registro", data=data).get_data(as_text=True)
    assert "Enter your CURP." in answer and "Escriba su CURP." not in answer


def test_the_review_console_stays_spanish(client):
    client.get("/?lang=en")
    page = client.get("/revision/sesion-cerrada").get_data(as_text=True)
    assert '<html lang="es-MX">' in page and "?lang=en" not in page


def test_registration_stores_the_language_for_later_emails(client, fakes):
    client.get("/registro?lang=en")
    page = client.get("/registro").get_data(as_text=True)
    r = client.post("/registro", data=mexican_form(csrf_token=csrf_token(page)))
    assert r.status_code == 302
    (account,) = fakes.identity.accounts.values()
    assert account.attr("locale") == "en"
    (mail,) = fakes.mailer.sent
    assert mail.subject.startswith("Acceso Único ANAM: confirm your registration")
    assert "Dear Ana María Peña Núñez" in mail.text and "Required documents: official ID and signed responsiva." in mail.text
    assert '<html lang="en">' in mail.html


def test_a_spanish_registration_gets_spanish_emails(client, fakes):
    page = client.get("/registro").get_data(as_text=True)
    client.post("/registro", data=mexican_form(csrf_token=csrf_token(page)))
    (account,) = fakes.identity.accounts.values()
    assert account.attr("locale") == "es"
    (mail,) = fakes.mailer.sent
    assert "Estimad@ Ana María Peña Núñez" in mail.text and "Consultar mi solicitud" in mail.html


def _keys(path) -> set[str]:
    keys = set()
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            keys.add(line.split("=", 1)[0].strip())
    return keys


def test_every_keycloak_theme_message_has_its_english_entry():
    from pathlib import Path
    themes = Path(__file__).resolve().parents[2] / "themes" / "anam"
    for kind in ("login", "email"):
        spanish = _keys(themes / kind / "messages" / "messages_es.properties")
        english = _keys(themes / kind / "messages" / "messages_en.properties")
        assert not spanish - english, f"{kind}: sin inglés: {sorted(spanish - english)}"
        assert "locales=es,en" in (themes / kind / "theme.properties").read_text("utf-8")


def test_messages_composed_elsewhere_are_translated_with_their_parts(app):
    from registro import i18n
    with app.test_request_context("/?lang=en"):
        assert i18n.translate("Falta cargar: Identificación oficial vigente.") == "Still to upload: Valid official ID."
        assert i18n.translate("Se cargó el documento «CURP».") == "The document “CURP” was uploaded."
        assert i18n.translate("El archivo excede el tamaño máximo permitido de 10 MB.") == \
            "The file exceeds the maximum size allowed of 10 MB."
        assert i18n.translate("Un texto que nadie tradujo.") == "Un texto que nadie tradujo."
    with app.test_request_context("/"):
        assert i18n.translate("Falta cargar: CURP.") == "Falta cargar: CURP."


def test_the_responsiva_stays_spanish_with_one_english_line_for_foreigners(client, fakes):
    import io

    from pypdf import PdfReader

    from tests.support.registration import foreign_form

    def pdf_text(data: bytes) -> str:
        return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())

    client.get("/registro?lang=en")
    page = client.get("/registro").get_data(as_text=True)
    assert client.post("/registro", data=foreign_form(csrf_token=csrf_token(page))).status_code == 302
    page = client.get("/registro?lang=es").get_data(as_text=True)
    assert client.post("/registro", data=mexican_form(csrf_token=csrf_token(page))).status_code == 302
    foreign, mexican = (pdf_text(m.attachments[0].data) for m in fakes.mailer.sent)
    assert "Responsiva de uso de usuario y contraseña" in foreign and "Firma autógrafa" in foreign
    assert "English note: this letter of responsibility is the legal text in Spanish" in foreign
    assert "English note" not in mexican and "Responsiva de uso de usuario y contraseña" in mexican


def test_select_options_are_english_and_countries_come_from_cldr(client):
    page = client.get("/registro?lang=en").get_data(as_text=True)
    assert "Select an option" in page and "Seleccione una opción" not in page and "Select a state" in page
    assert '<option value="US">United States</option>' in page and "Estados Unidos" not in page
    assert '<option value="DE">Germany</option>' in page
    spanish = client.get("/registro?lang=es").get_data(as_text=True)
    assert '<option value="US">Estados Unidos</option>' in spanish and "Seleccione una opción" in spanish


def test_decision_emails_follow_the_applicants_language_even_from_the_spanish_console(app, fakes):
    from registro.review.leases import Reviewer
    from registro.review.service import ReviewService, documents_digest, round_id
    from tests.support import review_data as data
    from tests.unit.conftest import unit_settings

    reviewer = Reviewer("id-ana", "ana.revisora")
    with app.test_request_context("/revision/solicitudes"):
        service = ReviewService(fakes.identity, fakes.storage, app.extensions["registro.adapters"].outbox,
                                unit_settings(), leases=fakes.review_leases, decisions=fakes.decisions,
                                audit=fakes.audit)
        english = data.create_pending(fakes.identity, fakes.storage)
        fakes.identity.update_attributes(english.id, {"locale": "en"})
        spanish = data.create_pending(fakes.identity, fakes.storage)
        for pending in (english, spanish):
            service.claim(pending.id, reviewer)
            current = service.application(pending.id)
            service.reject(pending.id, reviewer, round_seen=round_id(current), digest_seen=documents_digest(current),
                           reason="La identificación no corresponde.")
    (to_english,) = fakes.mailer.to(english.email)
    (to_spanish,) = fakes.mailer.to(spanish.email)
    assert to_english.subject.startswith("Acceso Único ANAM: result of your application")
    assert "/consulta/" in to_english.text and "/consulta/" in to_spanish.text
    assert to_spanish.subject.startswith("Acceso Único ANAM: resultado de su solicitud")


def test_composed_field_messages_of_the_form_are_translated(client):
    client.get("/registro?lang=en")
    page = client.get("/registro").get_data(as_text=True)
    data = mexican_form(localidad="", colonia="x" * 101, calle="Calle <b>", csrf_token=csrf_token(page))
    answer = client.post("/registro", data=data).get_data(as_text=True)
    assert "Enter your city or town." in answer
    assert "The field Neighbourhood (colonia) may have at most 100 characters." in answer
    assert "The field Street contains characters that are not allowed." in answer
