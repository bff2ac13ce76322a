"""The registration form by keyboard alone, errors that move the focus, and the public pages at
phone and desktop widths (WCAG 2.1: 2.1.1 keyboard, 3.3.1 error identification, 1.4.10 reflow)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_accessible
from tests.support.registration import mexican_form, random_person, wrong_check

# Each field of the manual's order, and what a keyboard user does there.
KEYBOARD_PLAN = [
    ("tipo_usuario", "select"), ("es_extranjero", "skip"), ("curp", "type"), ("rfc", "type"), ("nombre", "type"),
    ("apellidos", "type"), ("email", "type"), ("pais", "skip"), ("estado", "select"), ("localidad", "type"),
    ("colonia", "type"), ("codigo_postal", "type"), ("numero_exterior", "type"), ("calle", "type"),
    ("acepta_aviso", "check"),
]


def focused_id(page) -> str:
    """The focused element's id, or for the submit button its visible label."""
    return page.evaluate("""() => { const e = document.activeElement;
        return e.type === 'submit' ? (e.value || e.textContent.trim()) : e.id; }""")


def test_registration_by_keyboard_alone(page, stack, mailbox, screens, unique):
    curp, rfc = random_person()
    email = f"teclado-{unique}@example.com"
    data = mexican_form(curp=curp, rfc=rfc, email=email)
    page.goto(f"{stack.registro_url}/registro")
    reached = []
    for _ in range(80):
        page.keyboard.press("Tab")
        current = focused_id(page)
        if current == "Registrar":
            break
        step = dict(KEYBOARD_PLAN).get(current)
        if step is None or current in reached:
            continue
        reached.append(current)
        if step == "type":
            page.keyboard.type(data[current])
        elif step == "select" and current == "tipo_usuario":
            page.keyboard.press("ArrowDown")  # the first type after the prompt: Agente Aduanal
        elif step == "select":
            page.keyboard.type(data[current])  # type-ahead picks "Jalisco"
        elif step == "check":
            page.keyboard.press("Space")  # the privacy notice is accepted
    assert reached == [name for name, _ in KEYBOARD_PLAN], "every field reachable by Tab, in the manual's order"
    assert focused_id(page) == "Registrar"
    expect(page.locator("#tipo_usuario")).to_have_value("agente_aduanal")
    expect(page.locator("#estado")).to_have_value(data["estado"])
    screens.shot(page, "registro-teclado")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("Se ha enviado un correo para confirmar su identificación.")
    assert mailbox.wait_for(email, 1, timeout_s=30)


def test_errors_move_focus_to_the_first_invalid_field(page, stack, screens, unique):
    curp, rfc = random_person()
    page.goto(f"{stack.registro_url}/registro")
    data = mexican_form(curp=wrong_check(curp), rfc=rfc, email=f"errores-{unique}@example.com", codigo_postal="441")
    from tests.e2e.journeys import fill_registration

    fill_registration(page, data)
    page.get_by_role("button", name="Registrar").click()
    curp_input = page.locator("#curp")
    expect(curp_input).to_be_focused()
    expect(curp_input).to_have_attribute("aria-invalid", "true")
    expect(curp_input).to_have_value(data["curp"])  # typed values are kept
    described = curp_input.get_attribute("aria-describedby").split()
    assert "curp-error" in described
    expect(page.locator("#curp-error")).not_to_be_empty()
    expect(page.locator("#codigo_postal-error")).not_to_be_empty()
    expect(page.locator(".resumen-errores")).to_be_visible()
    screens.shot(page, "registro-errores")
    assert_accessible(page, "registro con errores")


@pytest.mark.parametrize("width", [375, 1280])
def test_public_pages_read_well_on_phone_and_desktop(new_page, stack, screens, width):
    page = new_page(width=width, height=800)
    pages = {"registro": "/registro", "recuperar": "/recuperar", "inicio": "/"}
    for name, path in pages.items():
        page.goto(f"{stack.registro_url}{path}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} se desborda {overflow}px a {width}px de ancho"
        screens.shot(page, f"{name}-{width}", keep_as=f"{name}-{width}" if name != "inicio" else None)
        assert_accessible(page, f"{path} a {width}px")
    page.goto(f"{stack.modulo_url}/entrar")  # the realm's login page
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"la página de inicio de sesión se desborda {overflow}px a {width}px"
    screens.shot(page, f"login-{width}", keep_as=f"login-{width}")
    assert_accessible(page, f"inicio de sesión a {width}px")
