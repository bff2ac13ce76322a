"""Steps a person takes, shared by the browser journeys: each checks what the person sees."""
from __future__ import annotations

import io
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Screens, assert_accessible

LINK = re.compile(r"https?://[^\s\"'<>]+")


def links_in(text: str) -> list[str]:
    return [m.rstrip(".,)") for m in LINK.findall(text)]


def open_module_login(page: Page, stack, screens: Screens, keep_as: str | None = None) -> None:
    """From the example module to the realm's themed login page."""
    page.goto(f"{stack.modulo_url}/")
    page.get_by_role("link", name="Iniciar sesión con Acceso Único").click()
    expect(page.get_by_role("heading", name="Bienvenido")).to_be_visible()
    expect(page.get_by_label("Usuario", exact=True)).to_be_visible()
    expect(page.get_by_label("Contraseña", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Ingresar")).to_be_visible()
    expect(page.get_by_role("link", name="Registrarse")).to_have_attribute("href", f"{stack.registro_url}/registro")
    expect(page.get_by_role("link", name="¿Olvidó su contraseña?")).to_have_attribute(
        "href", f"{stack.registro_url}/recuperar")
    screens.shot(page, "login", keep_as=keep_as)
    assert_accessible(page, "página de inicio de sesión")


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Usuario", exact=True).fill(username)
    page.get_by_label("Contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Ingresar").click()


def set_new_password(page: Page, password: str, screens: Screens, name: str) -> None:
    """Keycloak's update-password page (forced change or set-password link), in Spanish."""
    expect(page.get_by_role("heading", name="Actualizar contraseña")).to_be_visible()
    screens.shot(page, name)
    assert_accessible(page, "actualizar contraseña")
    page.get_by_label("Nueva contraseña", exact=True).fill(password)
    page.get_by_label("Confirme la contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Enviar").click()


def expect_module_greeting(page: Page, nombre: str, tipo_label: str) -> None:
    expect(page.locator("main")).to_contain_text(nombre)
    expect(page.locator("main")).to_contain_text(tipo_label)


# --- applicant --------------------------------------------------------------------------------
def fill_registration(page: Page, data: dict[str, str]) -> None:
    """Fills the registration form field by field as a person would (select, type, tick)."""
    page.locator("#tipo_usuario").select_option(data["tipo_usuario"])
    if data.get("es_extranjero"):
        page.locator("#es_extranjero").check()
        expect(page.locator("#tax_id")).to_be_visible()
        page.locator("#tax_id").fill(data["tax_id"])
        page.locator("#pasaporte").fill(data["pasaporte"])
    for field in ("curp", "rfc", "nombre", "apellidos", "email"):
        if data.get(field):
            page.locator(f"#{field}").fill(data[field])
    page.locator("#pais").select_option(data["pais"])
    if data.get("es_extranjero"):
        page.locator("#estado_extranjero").fill(data["estado_extranjero"])
    else:
        page.locator("#estado").select_option(label=data["estado"])
    for field in ("localidad", "colonia", "codigo_postal", "numero_exterior", "calle"):
        page.locator(f"#{field}").fill(data[field])
    if data.get("acepta_aviso", "y"):
        page.locator("#acepta_aviso").check()


def register(page: Page, stack, screens: Screens, data: dict[str, str], *, from_login: bool = True,
             keep_as: str | None = None) -> None:
    """From the login page's "Registrarse" (or the form's URL) to the confirmation page, then
    "Reenviar correo". Ends on the confirmation page; two emails are on their way."""
    if from_login:
        open_module_login(page, stack, screens)
        page.get_by_role("link", name="Registrarse").click()
    else:
        page.goto(f"{stack.registro_url}/registro")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Registr")
    expect(page.locator("main")).to_contain_text("Los campos marcados con (*) son de carácter obligatorio.")
    assert_accessible(page, "formulario de registro")
    fill_registration(page, data)
    screens.shot(page, "registro-lleno", keep_as=keep_as)
    page.get_by_role("button", name="Registrar").click()
    expect(page.locator("main")).to_contain_text(
        "Se ha enviado un correo para confirmar su identificación. En caso de no recibir el correo, "
        "presiona el botón para volver a enviar el correo.")
    screens.shot(page, "registro-enviado")
    assert_accessible(page, "registro enviado")
    page.get_by_role("button", name="Reenviar correo").click()
    expect(page.locator("main")).to_contain_text("Se envió un nuevo correo de confirmación. El enlace anterior ya no funciona.")
    assert_accessible(page, "correo reenviado")


def newest_activation_link(mailbox, email: str, count: int) -> str:
    """The personal link of the newest of `count` confirmation emails (SPEC §5 texts checked)."""
    message = mailbox.wait_for(email, count, timeout_s=30)[-1]
    assert "Le informamos que su cuenta se encuentra en proceso de alta" in message.text
    assert "Documentos requeridos: identificación oficial y responsiva firmada." in message.text
    assert any(name.endswith(".pdf") for name, _, _ in message.attachments())
    links = [u for u in links_in(message.text) if "/activacion/" in u]
    assert links, message.text
    return links[-1]


# The upload button and the confirmation, per page language: (button name, text once uploaded).
UPLOAD_TEXTS = {"es": (re.compile("Cargar|Reemplazar"), "Se cargó el documento"),
                "en": (re.compile("^(Upload|Replace)$"), "was uploaded.")}


def upload_document(page: Page, kind: str, path, *, id_kind: str | None = None, vigencia: str | None = None,
                    lang: str = "es") -> None:
    button, uploaded = UPLOAD_TEXTS[lang]
    form = page.locator(f"form:has(#{kind}-archivo)")
    if id_kind:
        form.locator("#identificacion-tipo_identificacion").select_option(id_kind)
        form.locator("#identificacion-vigencia").fill(vigencia or "")
    form.locator(f"#{kind}-archivo").set_input_files(str(path))
    # With JavaScript the page sends the file to S3 itself and shows the page again once it was checked
    # (static/js/subida.js); the previous page's message stays until then, so wait for the new page.
    with page.expect_navigation(timeout=30_000):
        form.get_by_role("button", name=button).click()
    expect(page.locator("main")).to_contain_text(uploaded)


def activate_and_submit(page: Page, link: str, files: dict[str, object], screens: Screens, *, foreign: bool,
                        vigencia: str, keep_as: str | None = None) -> str:
    """Confirms the email through the link, downloads the responsiva, uploads the documents and
    sends them to validation. Returns the application's folio as the page shows it."""
    page.goto(link)
    expect(page.get_by_role("heading", name="Activación de su cuenta")).to_be_visible()
    folio = re.search(r"Folio: (AU-\d{4}-\w+)", page.locator("main").inner_text()).group(1)
    assert_accessible(page, "página de activación")
    with page.expect_download() as download:
        page.get_by_role("link", name="Descargar responsiva (PDF)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    responsiva = files["responsiva"]
    if responsiva is None:  # signed on paper and photographed: the responsiva this application issued
        responsiva = photograph_responsiva(download.value, Path(files["identificacion"]).parent)
    if not foreign:
        upload_document(page, "curp", files["curp"])
    upload_document(page, "responsiva_firmada", responsiva)
    upload_document(page, "identificacion", files["identificacion"],
                    id_kind="documento_migratorio" if foreign else "ine", vigencia=vigencia)
    screens.shot(page, "activacion-documentos", keep_as=keep_as)
    assert_accessible(page, "documentos cargados")
    page.get_by_role("button", name="Enviar a validación").click()
    expect(page.locator("main")).to_contain_text("Su solicitud está en revisión.")
    expect(page.locator("main")).to_contain_text(
        "Sus documentos serán validados y el resultado le será enviado por correo electrónico.")
    screens.shot(page, "activacion-enviada")
    assert_accessible(page, "solicitud enviada")
    return folio


# --- reviewer ---------------------------------------------------------------------------------
def reviewer_logs_in(page: Page, stack, reviewer, screens: Screens) -> None:
    """Through Keycloak's themed login, with the second factor: first login enrols an authenticator
    (codes computed from the secret Keycloak shows), later logins ask for a code."""
    page.goto(f"{stack.registro_url}/revision/")
    expect(page.get_by_role("heading", name="Bienvenido")).to_be_visible()
    log_in(page, reviewer.username, reviewer.password)
    secret = page.locator("input[name=totpSecret]")
    if reviewer.totp_secret is None:
        expect(secret).to_be_attached()
        assert_accessible(page, "alta del segundo factor")
        screens.shot(page, "revisor-otp-alta")
        reviewer.totp_secret = secret.get_attribute("value")
        page.locator("#totp").fill(reviewer.next_code())
        page.locator("#userLabel").fill("Teléfono del revisor")
    else:
        assert_accessible(page, "código del segundo factor")
        page.locator("#otp").fill(reviewer.next_code())
    page.get_by_role("button", name=re.compile("Enviar|Ingresar")).click()
    expect(page.get_by_role("heading", name="Validación de usuarios")).to_be_visible()


def reviewer_opens(page: Page, folio: str, screens: Screens, *, keep_prefix: str | None = None) -> None:
    """From the queue to the application's detail, claimed, with every document opened."""
    wait_in_queue(page, folio)
    screens.shot(page, "revision-cola", keep_as=f"{keep_prefix}-cola" if keep_prefix else None)
    assert_accessible(page, "cola de revisión")
    page.get_by_role("link", name=folio).click()
    expect(page.get_by_role("heading", name=f"Solicitud {folio}")).to_be_visible()
    page.get_by_role("button", name="Reservar para revisar").click()
    expect(page.locator("main")).to_contain_text("Reservó la solicitud")
    documents_are_shown(page)
    screens.shot(page, "revision-detalle", keep_as=f"{keep_prefix}-detalle" if keep_prefix else None)
    assert_accessible(page, "detalle de la solicitud")


def documents_are_shown(page: Page) -> None:
    """Every document (and the generated responsiva) shows its page 1 as an image the service
    rendered — visible, loaded and not blank, judged from the pixels on screen — and the viewer's
    rotation and zoom act on it."""
    from PIL import Image, ImageStat

    viewers = page.locator("article.visor")
    expect(viewers.first).to_be_visible()
    assert viewers.count() >= 3, "la responsiva generada y al menos dos documentos"
    for i in range(viewers.count()):
        viewer = viewers.nth(i)
        title = viewer.locator("h3").inner_text()
        first = viewer.locator("img[data-pagina='1']")
        first.scroll_into_view_if_needed()
        expect(first).to_be_visible()
        first.evaluate("img => img.complete ? null : new Promise(done => img.addEventListener('load', done))")
        assert first.evaluate("img => img.naturalWidth") > 0, f"{title}: la imagen no cargó"
        shot = Image.open(io.BytesIO(first.screenshot())).convert("L")
        spread = max(ImageStat.Stat(shot).stddev)
        assert spread > 10, f"{title}: la página 1 se ve en blanco (desviación {spread:.1f})"
    viewer = viewers.first
    image = viewer.locator("img[data-pagina='1']")
    before = image.bounding_box()
    viewer.get_by_role("button", name="Girar a la derecha").click()
    expect(viewer.locator("output")).to_have_text("Zoom 100 %, girado 90°")
    viewer.get_by_role("button", name="Acercar").click()
    expect(viewer.locator("output")).to_have_text("Zoom 125 %, girado 90°")
    after = image.bounding_box()  # turned sideways: the box's proportions swap
    assert (before["height"] > before["width"]) != (after["height"] > after["width"]), (before, after)
    viewer.get_by_role("button", name="Restablecer").click()
    expect(viewer.locator("output")).to_have_text("Zoom 100 %, sin giro")


def photograph_responsiva(download, folder) -> Path:
    """What the applicant does with the responsiva just downloaded: prints it, signs it and takes a
    slightly crooked, dim photo of it with a phone."""
    from tests.support import scans

    page = scans.sign(scans.render_pdf_page(Path(download.path()).read_bytes()))
    photo = scans.phone_photo(page, angle=-7, skew=0.1, contrast=0.5, brightness=0.85)
    path = Path(folder) / "responsiva firmada (foto).jpg"
    path.write_bytes(scans.jpeg(photo, 70))
    return path


def wait_in_queue(page: Page, folio: str, timeout_s: float = 60) -> None:
    """The queue index lists an application from the moment it is submitted; the page is reloaded
    until the folio is listed (within a deadline), as a reviewer would, in case the page was opened
    just before the submission."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            expect(page.locator("main")).to_contain_text(folio, timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()


def reviewer_decides(page: Page, button: str, screens: Screens, fill=None) -> None:
    form = page.locator("form.revision-decision", has=page.get_by_role("button", name=button))
    if fill:
        fill(form)
    form.get_by_role("button", name=button).click()
    expect(page.locator("main")).to_contain_text("Historial")
    screens.shot(page, f"revision-{button.lower().replace(' ', '-')}")
    assert_accessible(page, f"después de {button}")


def temporary_credentials(mailbox, email: str, count: int) -> tuple[str, str]:
    message = mailbox.wait_for(email, count, timeout_s=30)[-1]
    assert "Estimado usuario le informamos que el proceso de alta finalizó con éxito" in message.text
    username = re.search(r"Usuario: (\S+)", message.text).group(1)
    password = re.search(r"Contraseña temporal: (\S+)", message.text).group(1)
    return username, password


def first_login(page: Page, stack, screens: Screens, mailbox, email: str, count: int, new_password: str) -> str:
    """The approved applicant reads the approval email, logs in with the temporary password and is
    forced by Keycloak to choose their own. Returns the username the email gave."""
    username, temporary = temporary_credentials(mailbox, email, count)
    open_module_login(page, stack, screens)
    log_in(page, username, temporary)
    set_new_password(page, new_password, screens, "cambio-obligatorio")
    return username
