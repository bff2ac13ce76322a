"""WCAG 2.2 AA criteria that axe-core cannot decide, measured in Chromium (issue 21, item 15):
2.5.8 target size (bounding boxes), 2.4.11 focus not obscured (Tab through each page and hit-test the
focused element), 3.3.8 accessible authentication (real paste into the sign-in, recovery and password
fields; autocomplete tokens for password managers; a captcha without a puzzle) and 3.3.7 redundant entry
(the activation page asks nothing the registration already asked). README "Accesibilidad (WCAG 2.2 AA)"."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.journeys import activate_and_submit, reviewer_logs_in, wait_in_queue

# Every element a pointer or the keyboard can operate, shadow roots included (the captcha widget).
TARGETS_JS = """() => {
  const SEL = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [role=link],'
            + ' [role=checkbox], [tabindex]:not([tabindex="-1"])';
  const all = [];
  const walk = root => { root.querySelectorAll(SEL).forEach(e => all.push(e));
                         root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) walk(e.shadowRoot); }); };
  walk(document);
  const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !e.disabled
           && r.right > 0 && r.bottom > 0;  // the skip link waits off-screen until it has the focus
  };
  const block = e => { let b = e.parentElement;
    while (b && getComputedStyle(b).display.startsWith('inline')) b = b.parentElement; return b; };
  // Exception "inline": a link inside a sentence, sized by the line-height of the text around it.
  const inline = e => e.tagName === 'A' && getComputedStyle(e).display === 'inline'
    && block(e) && block(e).textContent.replace(e.textContent, '').replace(/[\\s·|]/g, '').length > 0;
  const targets = all.filter(shown).map(e => ({e, r: e.getBoundingClientRect()}));
  const describe = e => (e.id ? '#' + e.id : e.tagName.toLowerCase()) + ' «' + (e.textContent || e.value || '').trim().slice(0, 40) + '»';
  const centre = r => [r.left + r.width / 2, r.top + r.height / 2];
  const toRect = ([x, y], r) => Math.hypot(Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
  const small = t => t.r.width < 24 || t.r.height < 24;
  const failures = [];
  for (const t of targets) {
    if (!small(t) || inline(t.e)) continue;
    // Exception "spacing": a 24 px circle on its centre meets no other target and no other small target's circle.
    const c = centre(t.r);
    const clash = targets.find(o => o !== t && !o.e.contains(t.e) && !t.e.contains(o.e)
      && (small(o) ? Math.hypot(c[0] - centre(o.r)[0], c[1] - centre(o.r)[1]) < 24 : toRect(c, o.r) < 12));
    if (clash) failures.push(`${describe(t.e)} ${t.r.width.toFixed(1)}×${t.r.height.toFixed(1)} px, junto a ${describe(clash.e)}`);
  }
  return {count: targets.length, failures};
}"""

# The focused element (inside shadow roots too) and the points of its boxes where something else is on top:
# five points of each line box (a link wrapped over two lines has two), clipped to the viewport.
FOCUS_JS = """() => {
  let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e || e === document.body) return null;
  const label = n => n ? (n.id ? '#' + n.id : n.tagName.toLowerCase() + (typeof n.className === 'string' && n.className ? '.' + n.className : '')) : 'nada';
  const name = label(e) + ' «' + (e.textContent || e.value || '').trim().slice(0, 40) + '»';
  // A control drawn by a custom element (the captcha widget) is the whole widget: its own check mark
  // over its own box is the control itself, not content obscuring it.
  const up = n => n.parentElement || (n.getRootNode() && n.getRootNode().host) || null;
  let owner = e;
  for (let n = e; n; n = up(n)) if (n.tagName && n.tagName.includes('-')) { owner = n; break; }
  const points = [];
  for (const r of e.getClientRects()) {
    const x0 = Math.max(r.left, 0), x1 = Math.min(r.right, innerWidth), y0 = Math.max(r.top, 0), y1 = Math.min(r.bottom, innerHeight);
    if (x1 <= x0 || y1 <= y0) continue;
    for (const [fx, fy] of [[.5, .5], [.15, .15], [.85, .15], [.15, .85], [.85, .85]]) points.push([x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)]);
  }
  if (!points.length) return {name, points: 0, by: ['fuera de la ventana']};
  const deep = (x, y) => { let h = document.elementFromPoint(x, y);
    while (h && h.shadowRoot) { const i = h.shadowRoot.elementFromPoint(x, y); if (!i || i === h) break; h = i; } return h; };
  const mine = h => { for (let n = h; n; n = n.parentNode || n.host) if (n === owner) return true; return false; };
  const by = points.map(([x, y]) => deep(x, y)).filter(h => !mine(h)).map(label);
  return {name, points: points.length, by};
}"""

PUBLIC_PAGES = {"inicio": "/", "registro": "/registro", "recuperar": "/recuperar", "consulta": "/consulta"}


def _pages(stack, applications) -> dict[str, str]:
    _, link = applications(status="pendiente_documentos")
    pages = {name: f"{stack.registro_url}{path}" for name, path in PUBLIC_PAGES.items()}
    pages["activacion"] = link
    pages["inicio de sesión"] = f"{stack.modulo_url}/entrar"  # the realm's themed login page
    return pages


@pytest.mark.parametrize("width", [375, 1280])
def test_every_target_is_24px_or_spaced(new_page, stack, applications, width):
    """2.5.8: each target's box is at least 24×24 CSS px, or an inline link, or has the spacing exception."""
    page = new_page(width=width, height=800)
    for name, url in _pages(stack, applications).items():
        page.goto(url)
        page.wait_for_load_state("load")
        measured = page.evaluate(TARGETS_JS)
        assert measured["count"] >= 3, f"{name}: no se encontraron controles"
        assert not measured["failures"], f"{name} a {width}px, objetivos menores de 24 px:\n  " + "\n  ".join(measured["failures"])


def _tab_through(page: Page, limit: int = 120) -> list[dict]:
    seen, first = [], None
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_JS)
        if focus is None:
            continue
        if first is None:
            first = focus["name"]
        elif focus["name"] == first:
            break
        seen.append(focus)
    return seen


@pytest.mark.parametrize("width", [375, 1280])
def test_focus_is_never_hidden_behind_other_content(new_page, stack, applications, width):
    """2.4.11 (and 2.4.12's stricter reading): every element Tab reaches is in the viewport and no other
    content (a sticky bar, a dialog, the skip link) lies over any of five points of its box."""
    page = new_page(width=width, height=700)
    for name, url in _pages(stack, applications).items():
        page.goto(url)
        page.wait_for_load_state("load")
        hidden = _hidden_focus(page, name)
        assert not hidden, f"{name} a {width}px, foco oculto:\n  " + "\n  ".join(hidden)


def _hidden_focus(page: Page, name: str, must_reach: str = "") -> list[str]:
    stops = _tab_through(page)
    assert len(stops) >= 3, f"{name}: Tab no recorrió la página"
    assert not must_reach or any(must_reach in s["name"] for s in stops), f"{name}: Tab no llegó a «{must_reach}»"
    return [f"{s['name']}: tapado en {len(s['by'])} de {s['points']} puntos por {s['by']}" for s in stops if s["by"]]


def test_the_measurements_see_a_small_target_and_a_fixed_bar(new_page, stack):
    """The two checks above fail where they must: two 16 px buttons side by side, and a fixed footer a
    third of the screen high over the form (styles set through the CSSOM: the page's CSP stays as served)."""
    page = new_page(width=375, height=700)
    page.goto(f"{stack.registro_url}/recuperar")
    page.evaluate("""() => { const b = document.querySelector('button[type=submit]');
        for (const [k, v] of [['width', '16px'], ['height', '16px'], ['padding', '0'], ['minHeight', '0']]) b.style[k] = v;
        b.after(b.cloneNode(true)); }""")
    failures = page.evaluate(TARGETS_JS)["failures"]
    assert any("16.0×16.0" in failure for failure in failures), failures

    page.goto(f"{stack.registro_url}/registro")
    page.evaluate("""() => { const f = document.querySelector('.pie');
        for (const [k, v] of [['position', 'fixed'], ['left', '0'], ['right', '0'], ['bottom', '0'], ['height', '240px'],
                              ['background', '#fff']]) f.style[k] = v; }""")
    assert _hidden_focus(page, "registro con pie fijo")


def _paste(page: Page, selector: str, text: str) -> None:
    """A real paste (the clipboard, then Ctrl+V) into the field: a page that cancels `paste` keeps it empty."""
    field = page.locator(selector)
    field.fill("")
    page.evaluate("t => navigator.clipboard.writeText(t)", text)
    field.focus()
    page.keyboard.press("Control+V")
    expect(field).to_have_value(text)


def _clipboard_page(new_page) -> Page:
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    return page


def test_identifiers_and_user_name_can_be_pasted_and_autofilled(new_page, stack):
    """3.3.8 and 3.3.7: CURP, RFC and email may be pasted; the recovery's user name is `username` for
    password managers, and its captcha is a box to tick (proof of work), not a puzzle to transcribe."""
    page = _clipboard_page(new_page)
    page.goto(f"{stack.registro_url}/registro")
    _paste(page, "#curp", "GODE561231HDFRRN09")
    _paste(page, "#rfc", "GODE561231GR8")
    _paste(page, "#email", "pegado@example.com")
    expect(page.locator("#email")).to_have_attribute("autocomplete", "email")
    expect(page.locator("input[type=email]")).to_have_count(1)  # no "confirm your email" field

    page.goto(f"{stack.registro_url}/recuperar")
    _paste(page, "#usuario", "GODE561231GR8")
    expect(page.locator("#usuario")).to_have_attribute("autocomplete", "username")
    widget = page.locator("altcha-widget")
    expect(widget.locator("input[type=checkbox]")).to_have_count(1)
    expect(widget.locator("input:not([type=checkbox]):not([type=hidden]), textarea, img, canvas")).to_have_count(0)


def test_sign_in_and_new_password_allow_paste_and_password_managers(new_page, stack, make_account, kc_admin, unique):
    """3.3.8 on Keycloak's themed pages: the user name is `username`, the password `current-password`,
    the new password and its confirmation `new-password`; all four accept a pasted value."""
    username = f"pegar-{unique}"
    account_id = make_account(username=username, email=f"{username}@example.com", enabled=True, role="transportista",
                              first_name="Paz", last_name="Pegado",
                              attributes={"tipo_usuario": "transportista", "es_extranjero": "false",
                                          "estatus": "aprobado"})
    kc_admin.update_user(account_id, {"emailVerified": True})
    kc_admin.set_user_password(account_id, "Temporal-Clave-2026!", temporary=True)

    page = _clipboard_page(new_page)
    page.goto(f"{stack.modulo_url}/entrar")
    user, password = page.get_by_label("Usuario", exact=True), page.get_by_label("Contraseña", exact=True)
    assert "username" in user.get_attribute("autocomplete").split()
    expect(password).to_have_attribute("autocomplete", "current-password")
    _paste(page, "#username", username)
    _paste(page, "#password", "Temporal-Clave-2026!")
    page.get_by_role("button", name="Ingresar").click()

    expect(page.get_by_role("heading", name="Actualizar contraseña")).to_be_visible()
    for label in ("Nueva contraseña", "Confirme la contraseña"):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("autocomplete", "new-password")
        _paste(page, f"#{field.get_attribute('id')}", "Pegada-Nueva-Clave-2026!")
    page.get_by_role("button", name="Enviar").click()
    expect(page.locator("main")).to_contain_text("Paz")  # the example module greets the signed-in person


def test_the_activation_page_asks_nothing_registration_already_asked(page, applications):
    """3.3.7: the activation page shows who registered (name, folio) and asks only for the documents;
    no CURP, RFC, name, email, tax id or passport field appears again."""
    _, link = applications(status="pendiente_documentos")
    page.goto(link)
    expect(page.get_by_role("heading", name="Activación de su cuenta")).to_be_visible()
    expect(page.locator(".datos-solicitud")).to_contain_text("Folio: AU-")
    asked = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .map(e => (e.name || e.id).toLowerCase())""")
    already = {"curp", "rfc", "nombre", "apellidos", "email", "correo", "tax_id", "pasaporte", "usuario"}
    repeated = sorted(name for name in asked if any(word in name for word in already))
    assert asked and not repeated, f"la página de activación vuelve a pedir: {repeated}"


def test_review_console_targets_and_focus_beside_the_sticky_data_panel(new_page, applications, document_files,
                                                                      reviewer, stack, screens):
    """The console's detail page has the only sticky box (the applicant's data beside each document, wide
    screens): Tab through the viewers' controls, the decision forms and the panel's neighbours, each
    focused element fully on top; and every target there is 24 px or spaced."""
    _, link = applications(status="pendiente_documentos")
    applicant = new_page()
    folio = activate_and_submit(applicant, link, {**document_files, "responsiva": None}, screens, foreign=False,
                                vigencia=(date.today() + timedelta(days=400)).isoformat())
    console = new_page(width=1280, height=800)
    reviewer_logs_in(console, stack, reviewer, screens)
    # Not journeys.reviewer_opens: the responsiva this fixture stored is a blank page, which it refuses.
    wait_in_queue(console, folio)
    console.get_by_role("link", name=folio).click()
    console.get_by_role("button", name="Reservar para revisar").click()
    expect(console.locator("main")).to_contain_text("Reservó la solicitud")
    expect(console.locator("article.visor img[data-pagina='1']").first).to_be_visible()
    assert console.locator(".visor-datos").first.evaluate("e => getComputedStyle(e).position") == "sticky"
    measured = console.evaluate(TARGETS_JS)
    assert not measured["failures"], "detalle de la solicitud, objetivos menores de 24 px:\n  " + "\n  ".join(measured["failures"])
    console.evaluate("() => window.scrollTo(0, 0)")
    hidden = _hidden_focus(console, "detalle de la solicitud", must_reach="Girar a la derecha")
    assert not hidden, "detalle de la solicitud, foco oculto:\n  " + "\n  ".join(hidden)
