"""Browser fixtures: Playwright driving Debian's Chromium, axe-core checks, screenshots."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

# The real-server fixtures are the integration tests' own (Keycloak gateway, admin, S3, mailbox).
from tests.integration.conftest import (  # noqa: F401  (fixtures are found by name)
    applications, gateway, kc_admin, kc_settings, keycloak_gateway, mailbox, make_account, s3, service_settings, stack,
    storage)

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts" / "screens"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, which this network refuses.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="package")
def browser():
    # Package scope: Playwright's sync API runs an event loop in the main thread while it is open, and
    # the suites after e2e (integration, unit) call libraries that start their own (pyHanko).
    with sync_playwright() as pw:
        # launch() gives every run a fresh temporary profile.
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts. Any Content-Security-Policy violation a page reports fails
    the test: the pages must work under the headers they are served with."""
    contexts = []
    violations: list[str] = []

    def make(width: int = 1280, height: int = 900) -> Page:
        context = browser.new_context(locale="es-MX", viewport={"width": width, "height": height},
                                      accept_downloads=True)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, "violaciones de CSP:\n" + "\n".join(violations)


@pytest.fixture
def page(new_page) -> Page:
    return new_page()


class Screens:
    """Numbered screenshots of one journey, kept in artifacts/ (ignored by git)."""

    def __init__(self, journey: str, keep_dir: str | None) -> None:
        self.dir = ARTIFACTS / journey
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keep_dir = Path(keep_dir) if keep_dir else None
        self.count = 0

    def shot(self, page: Page, name: str, keep_as: str | None = None) -> Path:
        self.count += 1
        path = self.dir / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if keep_as and self.keep_dir:
            self.keep_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, (ROOT / self.keep_dir if not self.keep_dir.is_absolute() else self.keep_dir) / f"{keep_as}.png")
        return path


@pytest.fixture
def screens(request) -> Screens:
    journey = re.sub(r"[^a-z0-9_-]+", "-", request.node.name.lower())
    return Screens(journey, request.config.getoption("--screens"))


def assert_accessible(page: Page, context: str = "") -> None:
    """Runs axe-core (pinned in package.json) with the WCAG 2.2 A/AA rules; fails on any violation."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not as a <script> tag: the pages' own
        # Content-Security-Policy stays in force and is not weakened for the test.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    violations = result["violations"]
    if violations:
        lines = [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else json.dumps(n["target"]) for n in v["nodes"][:5])
                 for v in violations]
        raise AssertionError(f"axe-core en {context or page.url}:\n  " + "\n  ".join(lines))


@pytest.fixture
def document_files(tmp_path) -> dict[str, Path]:
    """Files an applicant would scan: a CURP constancia (PDF, two pages), the signed responsiva (JPEG),
    an ID (PNG) — each with visible content, so the reviewer's viewer can be seen not to be blank."""
    from tests.support.scans import content_jpeg, content_png, multipage_pdf

    files = {"curp": ("constancia-curp.pdf", multipage_pdf(2)), "responsiva": ("responsiva firmada.jpg", content_jpeg()),
             "identificacion": ("identificación.png", content_png())}
    paths = {}
    for kind, (name, data) in files.items():
        paths[kind] = tmp_path / name
        paths[kind].write_bytes(data)
    return paths


@pytest.fixture
def reviewer(make_account, kc_admin, unique):  # noqa: F811  (fixtures imported above, requested by name)
    """An enabled account with realm role `revisor` and a password; its OTP is enrolled at first login."""
    from tests.support.reviewer import PASSWORD, ReviewerAccount

    username = f"revisor-{unique}"
    account_id = make_account(username=username, email=f"{username}@anam.gob.mx", enabled=True, role="revisor",
                              first_name="Revisora", last_name="Prueba")
    kc_admin.update_user(account_id, {"emailVerified": True})
    kc_admin.set_user_password(account_id, PASSWORD, temporary=False)
    return ReviewerAccount(id=account_id, username=username)
