"""The browser toolchain itself: Debian's Chromium under Playwright, axe-core injected."""
from tests.e2e.conftest import assert_accessible


def test_home_page_renders_in_chromium_and_passes_axe(page, stack, screens):
    page.goto(f"{stack.registro_url}/")
    assert page.locator("h1").inner_text() == "Acceso Único"
    assert page.locator("html").get_attribute("lang") == "es-MX"
    screens.shot(page, "inicio")
    assert_accessible(page, "inicio")
