"""Request ids, JSON logs without personal data, Prometheus metrics, health and the body limit."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from registro import create_app
from registro.kernel.applications import Intent
from registro.platform.outbox import MAX_ATTEMPTS
from registro.observability import logs, metrics, outcomes
from registro.observability.queue import stats_of
from tests.support.registration import mexican_form, post_registration
from tests.unit.conftest import unit_settings

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


# --- request id -----------------------------------------------------------------------------
def test_request_id_is_echoed_or_generated(client):
    assert client.get("/salud", headers={"X-Request-ID": "lb-123.abc"}).headers["X-Request-ID"] == "lb-123.abc"
    generated = client.get("/salud").headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/salud").headers["X-Request-ID"] != generated


@pytest.mark.parametrize("hostile", ["a b", "x" * 200, 'x"}{"level":"ERROR"', "", "ñ"])
def test_a_hostile_request_id_is_replaced(client, hostile):
    rid = client.get("/salud", environ_overrides={"HTTP_X_REQUEST_ID": hostile}).headers["X-Request-ID"]
    assert rid != hostile and len(rid) == 32


def test_app_log_lines_are_json_with_the_request_id(app, client):
    stream = io.StringIO()
    handler = logs.json_handler(stream)
    logger = logging.getLogger("registro.prueba")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @app.get("/_prueba_log")
    def _log():
        logger.info("registro de %s con CURP %s y RFC %s", "ana.pena@example.com", "PELA800101MDFRPN06",
                    "pela800101ab8")
        return "ok"

    try:
        client.get("/_prueba_log", headers={"X-Request-ID": "req-42"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip())
    assert line["request_id"] == "req-42" and line["level"] == "INFO" and line["logger"] == "registro.prueba"
    assert line["message"] == "registro de [correo] con CURP [curp] y RFC [rfc]"


@pytest.mark.parametrize("text,hidden", [
    ("correo Ana.Pena+x@sub.example.com.mx", "Ana.Pena"),
    ("curp PELA800101MDFRPN06.", "PELA800101MDFRPN06"),
    ("usuario malr900615t57 creado", "malr900615t57"),
    ("rfc GO&A800101AB8", "GO&A800101AB8"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x", "eyJhbGci"),
    ("GET /activacion/abc.def.ghi/documentos HTTP/1.1", "abc.def.ghi"),
])
def test_redact_removes_personal_data(text, hidden):
    assert hidden not in logs.redact(text)


def test_exceptions_in_logs_are_redacted_too():
    stream = io.StringIO()
    logger = logging.getLogger("registro.prueba.exc")
    logger.addHandler(logs.json_handler(stream))
    try:
        raise ValueError("User exists with same email ana.pena@example.com")
    except ValueError:
        logger.exception("fallo")
    finally:
        logger.handlers.clear()
    line = json.loads(stream.getvalue().strip())
    assert "ana.pena" not in stream.getvalue() and "[correo]" in line["exc_info"]


# --- health ---------------------------------------------------------------------------------
def test_health_live_and_ready_with_aliases(client, fakes):
    for path in ("/health/live", "/salud"):
        assert client.get(path).get_json() == {"estado": "ok"}
    for path in ("/health/ready", "/salud/lista"):
        r = client.get(path)
        assert r.status_code == 200 and r.get_json()["servicios"] == {"keycloak": "ok", "s3": "ok", "smtp": "ok"}


@pytest.mark.parametrize("part,name", [("identity", "keycloak"), ("storage", "s3"), ("mailer", "smtp")])
def test_ready_is_503_naming_the_part_that_is_down(client, fakes, part, name):
    getattr(fakes, part).down = True
    r = client.get("/health/ready")
    assert r.status_code == 503 and r.get_json()["estado"] == "degradado"
    assert r.get_json()["servicios"][name] == "no disponible"
    assert [k for k, v in r.get_json()["servicios"].items() if v != "ok"] == [name]


def test_smtp_ping_of_the_real_adapter_reports_an_unreachable_relay():
    from registro.adapters.mail import MailUnavailable, SmtpMailer

    with pytest.raises(MailUnavailable):
        SmtpMailer(unit_settings().smtp.__class__(**{**unit_settings().smtp.__dict__, "port": 1})).ping()


# --- metrics --------------------------------------------------------------------------------
CONTRACT = ["registro_registrations_total", "registro_confirmation_emails_total", "registro_uploads_total",
            "registro_submissions_total", "registro_decisions_total", "registro_recoveries_total",
            "registro_review_queue_length", "registro_review_oldest_pending_age_seconds",
            "registro_request_seconds_bucket", "registro_outbox_pending", "registro_outbox_oldest_waiting_age_seconds",
            "registro_outbox_failed", "registro_registrations_unfinished"]


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not in metrics")


def test_metrics_expose_every_contract_name(client):
    client.get("/salud")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.get_data(as_text=True)
    for name in CONTRACT:
        assert f"\n{name}" in text, name
    assert sample(text, "registro_review_queue_length") == 0.0
    assert 'registro_request_seconds_count{endpoint="health.alive"}' in text


def test_metrics_are_not_served_through_a_proxy_or_to_other_addresses(client):
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    app = create_app({"SETTINGS": unit_settings(metrics_allow_from=("10.0.0.0/8",)), "TESTING": True,
                      "ADAPTERS": client.application.extensions["registro.adapters"]})
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_counters_follow_the_outcome_of_the_views(client, fakes):
    before = client.get("/metrics").get_data(as_text=True)
    assert post_registration(client, mexican_form(curp="X")).status_code == 200  # refused form
    assert post_registration(client, mexican_form()).status_code == 302
    after = client.get("/metrics").get_data(as_text=True)
    for name, labels, delta in (("registro_registrations_total", {"outcome": "rechazada"}, 1),
                                ("registro_registrations_total", {"outcome": "ok"}, 1),
                                ("registro_confirmation_emails_total", {"outcome": "enviado"}, 1)):
        assert sample(after, name, **labels) - sample(before, name, **labels) == delta, (name, labels)
    assert "PELA" not in after and "example.com" not in after


def test_a_failed_confirmation_email_is_counted_as_failed(client, fakes):
    before = sample(client.get("/metrics").get_data(as_text=True), "registro_confirmation_emails_total",
                    outcome="fallido")
    fakes.mailer.down = True
    assert post_registration(client, mexican_form()).status_code == 302
    after = sample(client.get("/metrics").get_data(as_text=True), "registro_confirmation_emails_total",
                   outcome="fallido")
    assert after - before == 1


def test_an_unknown_label_value_becomes_otro():
    metrics.count("decisions", "PELA800101MDFRPN06")
    text = metrics.exposition(None).decode()
    assert 'registro_decisions_total{decision="otro"}' in text and "PELA" not in text


@pytest.mark.parametrize("endpoint,status,expected", [
    (outcomes.UPLOAD, 303, [("uploads", "ok")]), (outcomes.UPLOAD, 413, [("uploads", "demasiado_grande")]),
    (outcomes.UPLOAD, 400, [("uploads", "rechazado")]), (outcomes.UPLOAD, 503, [("uploads", "error")]),
    (outcomes.SUBMIT, 303, [("submissions", "ok")]), (outcomes.SUBMIT, 400, [("submissions", "incompleta")]),
    (outcomes.RECOVERY, 400, [("recoveries", "rechazada")]), (outcomes.RECOVERY, 429, [("recoveries", "limitada")]),
    (outcomes.REGISTRATION, 429, [("registrations", "limitada")]), (outcomes.RESEND, 409, []),
])
def test_outcome_table(app, endpoint, status, expected):
    with app.test_request_context(method="POST"):
        assert outcomes.of(endpoint, "POST", status) == expected
        assert outcomes.of(endpoint, "GET", status) == []


def test_every_counted_endpoint_exists(app):
    for endpoint in outcomes.COUNTED_ENDPOINTS:
        assert endpoint in app.view_functions, endpoint


def test_the_outbox_and_half_made_registrations_are_measured_from_the_database(client, fakes):
    """What an operator's alerts read: emails waiting and how late, emails that gave up, registrations
    the reconciler has not finished; absent (not 0) while the database cannot be read."""
    outbox = fakes.outbox_store
    refused = outbox.add("prueba", b"rechazada")
    outbox.add("prueba", b"retenida", hold_s=3600)
    outbox.rows[refused]["created_at"] -= 900

    def refuse(row):
        if row.id == refused:
            raise OSError("smtp")

    for _ in range(MAX_ATTEMPTS):  # it gives up
        outbox.expedite()
        outbox.deliver_due(refuse)
    late = outbox.add("prueba", b"atrasada")
    outbox.rows[late]["created_at"] -= 600
    it = Intent.new(folio="AU-2026-MEDIAS01", username="u", link_version="v1", es_extranjero=False)
    fakes.applications.begin(it, {})
    fakes.applications.apps[it.id]["created_at"] -= metrics.UNFINISHED_AFTER_S + 1
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "registro_outbox_failed") == 1
    assert sample(text, "registro_outbox_pending") == 2  # the held one and the late one
    assert 600 <= sample(text, "registro_outbox_oldest_waiting_age_seconds") < 660
    assert sample(text, "registro_registrations_unfinished") == 1
    assert sample(text, "registro_database_up") == 1
    outbox.down = fakes.applications.down = True
    text = client.get("/metrics").get_data(as_text=True)
    assert "registro_outbox_pending " not in text and "registro_registrations_unfinished " not in text
    assert "registro_registrations_total" in text  # the counters are still scraped


@pytest.mark.parametrize("down", ["outbox_store", "applications"])
def test_the_database_down_is_measured_not_only_missing(client, fakes, down):
    """PostgreSQL down: /metrics still answers (up{job="registro"} stays 1) and the database's gauges
    vanish, so registro_database_up 0 is what alert BaseDeDatosNoDisponible reads."""
    assert sample(client.get("/metrics").get_data(as_text=True), "registro_database_up") == 1
    getattr(fakes, down).down = True
    response = client.get("/metrics")
    assert response.status_code == 200
    assert sample(response.get_data(as_text=True), "registro_database_up") == 0
    getattr(fakes, down).down = False
    assert sample(client.get("/metrics").get_data(as_text=True), "registro_database_up") == 1


def test_every_registro_metric_an_alert_reads_is_exposed(client):
    """deploy/prometheus/alerts.yml may only name registro's metrics that exist (a renamed one would
    silence its alert without a word)."""
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    read = {name for rule in rules for name in re.findall(r"\bregistro_[a-z_]+", rule["expr"])}
    assert {"registro_outbox_oldest_waiting_age_seconds", "registro_outbox_failed",
            "registro_registrations_unfinished", "registro_database_up"} <= read
    text = client.get("/metrics").get_data(as_text=True)
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert read <= exposed


def test_queue_age_comes_from_the_oldest_submission():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    stats = stats_of(["2026-11-27T12:00:00+00:00", "2026-11-28T11:00:00+00:00"], now)
    assert stats.length == 2 and stats.oldest_age_s == 86400
    assert stats_of([], now).oldest_age_s == 0


def test_metrics_of_several_processes_are_summed(tmp_path):
    """prometheus_client's multiprocess mode, as gunicorn workers use it: two processes count,
    a third one (any worker answering /metrics) sees the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    bump = "from registro.observability import metrics; metrics.count('registrations', 'ok')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", bump], env=env, check=True, timeout=60)
    show = "from registro.observability import metrics; print(metrics.exposition(None).decode())"
    out = subprocess.run([sys.executable, "-c", show], env=env, check=True, timeout=60, capture_output=True,
                         text=True).stdout
    assert sample(out, "registro_registrations_total", outcome="ok") == 2.0


# --- body size ------------------------------------------------------------------------------
class _CountingInput(io.BytesIO):
    read_bytes = 0

    def read(self, *args):
        data = super().read(*args)
        _CountingInput.read_bytes += len(data)
        return data

    def readline(self, *args):
        data = super().readline(*args)
        _CountingInput.read_bytes += len(data)
        return data


@pytest.mark.parametrize("path", ["/registro", "/recuperar", "/revision/salir", "/registro/reenviar"])
def test_a_huge_declared_body_is_refused_before_reading(client, path):
    _CountingInput.read_bytes = 0
    r = client.post(path, content_type="application/x-www-form-urlencoded",
                    environ_overrides={"CONTENT_LENGTH": str(300 * MiB), "wsgi.input": _CountingInput(b"a=b" * 10)})
    assert r.status_code == 413 and _CountingInput.read_bytes == 0
    assert 'lang="es-MX"' in r.get_data(as_text=True)


def test_an_upload_larger_than_the_global_limit_is_still_received(app, client, fakes):
    """The small global limit is raised where uploads are received (their own per-file limit)."""
    from PIL import Image

    from registro.domain import documents as docs
    from tests.support.applications import create_application, path_of, upload

    account_id, link = create_application(fakes.identity, fakes.storage, app.extensions["registro.settings"])
    assert client.get(path_of(link)).status_code == 200
    out = io.BytesIO()
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(out, format="PNG")
    assert len(out.getvalue()) > 4 * app.config["MAX_CONTENT_LENGTH"]
    r = upload(client, link, docs.CURP, out.getvalue(), "curp.png")
    assert r.status_code == 303, r.status_code


def test_multiprocess_mode_holds_even_if_prometheus_client_was_imported_first(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'services'}"}
    code = ("import os, prometheus_client; os.environ['PROMETHEUS_MULTIPROC_DIR'] = %r\n"
            "from registro.observability import metrics; metrics.count('uploads', 'ok')\n"
            "print(sorted(p.name.split('_')[0] for p in __import__('pathlib').Path(%r).glob('*.db')))"
            % (str(tmp_path), str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, capture_output=True,
                         text=True).stdout
    assert "counter" in out


def test_each_gunicorn_master_gets_its_own_emptied_metrics_folder(tmp_path):
    """Two replicas on one stack never share (and so never wipe) each other's metric files; the
    folders of masters that are gone are removed."""
    dead = tmp_path / "metrics" / "gunicorn-999999999"
    dead.mkdir(parents=True)
    (dead / "counter_1.db").write_bytes(b"x")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(STACK_DIR=str(tmp_path), PYTHONPATH=f"{ROOT}:{ROOT / 'services'}")
    code = "import os, registro.gunicorn_conf; print(os.getpid(), os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    pid, folder = subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, capture_output=True,
                                 text=True).stdout.split()
    assert folder == str(tmp_path / "metrics" / f"gunicorn-{pid}") and Path(folder).is_dir()
    assert not dead.exists()
