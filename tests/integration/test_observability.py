"""Against the live test stack: readiness, metrics across gunicorn workers, the body limit on the
wire, and a whole journey whose log lines carry no CURP, RFC or email."""
from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.support.applications import submit, upload_valid_documents
from tests.support.captcha import ask_recovery
from tests.support.ports import unused_port
from tests.support.registration import LINK_RE, mexican_form, post_registration, random_person
from tests.support.reviewer import PASSWORD, ReviewerAccount, console_login

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


class LiveClient:
    """The few calls of Flask's test client the support helpers use, over HTTP to the live service."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()

    def get(self, path: str, **_):
        return _Answer(self.http.get(self.base + path, allow_redirects=False, timeout=60))

    def post(self, path: str, data: dict, content_type: str | None = None, **_):
        files = {k: (v[1], v[0]) for k, v in data.items() if isinstance(v, tuple)}
        form = {k: v for k, v in data.items() if not isinstance(v, tuple)}
        return _Answer(self.http.post(self.base + path, data=form, files=files or None, allow_redirects=False,
                                      timeout=60))


class _Answer:
    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.location = response.headers.get("Location")

    def get_data(self, as_text: bool = False):
        return self.response.text if as_text else self.response.content


def _log_file() -> Path:
    return Path(os.environ["STACK_DIR"]) / "logs" / "registro.log"


def test_ready_checks_keycloak_s3_and_smtp_and_reports_redis(stack):
    for path in ("/health/ready", "/salud/lista"):
        r = requests.get(stack.registro_url + path, timeout=30)
        assert r.status_code == 200 and r.json()["estado"] == "ok" and "advertencias" not in r.json()
        parts = r.json()["servicios"]
        assert {"keycloak", "s3", "smtp", "redis"} <= set(parts) and set(parts.values()) == {"ok"}, parts
    assert requests.get(stack.registro_url + "/health/live", timeout=10).json() == {"estado": "ok"}


def test_metrics_are_served_directly_but_not_through_a_proxy(stack):
    r = requests.get(stack.registro_url + "/metrics", timeout=30)
    assert r.status_code == 200 and "registro_review_queue_length " in r.text
    assert "registro_review_oldest_pending_age_seconds " in r.text
    proxied = requests.get(stack.registro_url + "/metrics", headers={"X-Forwarded-For": "198.51.100.7"}, timeout=30)
    assert proxied.status_code == 404


def test_a_huge_post_is_refused_without_being_read(stack):
    """300 MiB declared, a few bytes sent: the 413 comes back at once (a read would wait for the rest)."""
    url = urlparse(stack.registro_url)
    for path in ("/registro", "/recuperar", "/revision/salir"):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Content-Length", str(300 * MiB))
        conn.endheaders(b"a=b")
        answer = conn.getresponse()
        assert answer.status == 413, path
        conn.close()


@pytest.fixture
def two_workers(tmp_path):
    """A second `registro` on the test stack's services, with two gunicorn workers."""
    port = unused_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}", "REGISTRO_PORT": str(port),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    log = open(tmp_path / "registro.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:registro.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2",
                             "registro.wsgi:app"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # readiness: the liveness endpoint answers
            try:
                if requests.get(base + "/health/live", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # listening before a worker is up
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "registro.log").read_text()
            time.sleep(0.2)
        yield base, tmp_path / "metrics"
    finally:  # never leave the server behind, also when it did not get ready
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} missing")


def test_metrics_count_across_gunicorn_workers(two_workers):
    base, folder = two_workers
    name = 'registro_registrations_total{outcome="rechazada"}'
    start = _value(requests.get(base + "/metrics", timeout=30).text, name)
    for _ in range(12):  # a new connection each time: the workers take turns
        assert requests.post(base + "/registro", data={"curp": "x"}, timeout=30).status_code == 400
    pids = {re.search(r"_(\d+)\.db$", f.name).group(1) for f in folder.glob("counter_*.db")}
    assert len(pids) >= 2, "both workers (and the master) keep counters"
    for _ in range(6):  # whichever worker answers the scrape sees every worker's count
        assert _value(requests.get(base + "/metrics", timeout=30).text, name) - start == 12


def _post_form(client, account_id: str, action: str):
    """Posts the console's form `action` of the detail page with its hidden fields, as a browser does."""
    page = client.get(f"/revision/{account_id}").get_data(as_text=True)
    m = re.search(rf'<form[^>]*action="[^"]*/{action}"[^>]*>(.*?)</form>', page, re.S)
    assert m, f"no hay formulario {action}"
    fields = {n: v for n, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', m.group(1))
              if not n.startswith("motivos_")}
    return client.post(f"/revision/{account_id}/{action}", data=fields)


@pytest.fixture
def reviewer(make_account, kc_admin, unique) -> ReviewerAccount:
    username = f"revisor-bitacora-{unique}"
    account_id = make_account(username=username, role="revisor", enabled=True, first_name="Rita",
                              last_name="Revisora")
    kc_admin.update_user(account_id, {"emailVerified": True})
    kc_admin.set_user_password(account_id, PASSWORD, temporary=False)
    return ReviewerAccount(id=account_id, username=username)


def test_a_whole_journey_leaves_no_personal_data_in_the_log(stack, mailbox, gateway, reviewer, unique):
    """Registration → confirmation → uploads → submission → approval → recovery through the live
    service; then its log file (gunicorn's access log and the app's logs) is searched."""
    log_file = _log_file()
    offset = log_file.stat().st_size
    metrics_before = requests.get(stack.registro_url + "/metrics", timeout=30).text
    curp, rfc = random_person()
    email = f"bitacora-{unique}@example.com"
    applicant = LiveClient(stack.registro_url)
    try:
        r = post_registration(applicant, mexican_form(curp=curp, rfc=rfc, email=email))
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        link = LINK_RE.search(mailbox.latest(email).text).group(1)
        assert applicant.get(urlparse(link).path).status_code == 200
        upload_valid_documents(applicant, link)
        assert submit(applicant, link).status_code == 303
        account_id = gateway.find_by_email(email).id

        console = LiveClient(stack.registro_url)
        assert console_login(console, reviewer).status_code == 302
        assert _post_form(console, account_id, "reservar").status_code == 303
        assert _post_form(console, account_id, "aprobar").status_code == 303
        approval = mailbox.wait_for(email, 2)
        password = re.search(r"Contraseña temporal: (\S+)", "\n".join(m.text for m in approval)).group(1)
        assert ask_recovery(applicant, rfc).status_code == 200

        marker = f"journey-{unique}"
        answer = requests.get(stack.registro_url + "/salud", headers={"X-Request-ID": marker}, timeout=10)
        assert answer.headers["X-Request-ID"] == marker
        deadline = time.monotonic() + 10
        # The access line is written after the answer. `offset` counts bytes (the log holds "…" and accents).
        while marker.encode() not in log_file.read_bytes()[offset:]:
            assert time.monotonic() < deadline, "the access log has the request id"
            time.sleep(0.1)
        written = log_file.read_bytes()[offset:].decode("utf-8")
        lines = [line for line in written.splitlines() if line.strip()]
        assert len(lines) > 20
        for line in lines:
            assert isinstance(json.loads(line), dict)  # one JSON object per line
        for secret in (curp, rfc, rfc.lower(), email, password, urlparse(link).path.rsplit("/", 1)[1]):
            assert secret not in written, secret
        assert any(json.loads(line).get("request_id") == marker for line in lines)

        metrics_after = requests.get(stack.registro_url + "/metrics", timeout=30).text
        for series in ('registro_registrations_total{outcome="ok"}', 'registro_confirmation_emails_total{outcome="enviado"}',
                       'registro_submissions_total{outcome="ok"}', 'registro_decisions_total{decision="aprobar"}',
                       'registro_recoveries_total{outcome="aceptada"}'):
            assert _value(metrics_after, series) - _value(metrics_before, series) >= 1, series
        assert _value(metrics_after, 'registro_uploads_total{outcome="ok"}') - \
            _value(metrics_before, 'registro_uploads_total{outcome="ok"}') >= 3
        for secret in (curp, rfc, email):
            assert secret not in metrics_after
    finally:
        account = gateway.find_by_email(email)
        if account is not None:
            gateway.delete_account(account.id)


def test_queue_gauges_come_from_the_shared_queue_index(gateway, queue_index):
    """An application sent to review 3 days ago: the queue has it, and the oldest age is at least 3 days."""
    from datetime import datetime, timedelta, timezone

    from registro import create_app
    from registro.adapters.storage import S3Store
    from registro.config import Settings
    from tests.support import review_data

    settings = Settings.from_env()
    store = S3Store(settings.s3)
    sent = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0).isoformat()
    pending = review_data.create_pending(gateway, store, fecha_envio=sent, with_documents=False)
    try:
        text = create_app({"SETTINGS": settings, "TESTING": True}).test_client().get("/metrics").get_data(as_text=True)
        assert _value(text, "registro_review_queue_length") >= 1
        assert _value(text, "registro_review_oldest_pending_age_seconds") >= 3 * 86400
    finally:
        review_data.cleanup(gateway, store, pending.id)
