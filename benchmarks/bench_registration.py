"""Timing of registration against the real test stack (`make bench`; prints with -s).

1. the responsiva rendered alone (WeasyPrint), in-process;
2. a registration POST through the service in-process with its real adapters (Keycloak, S3,
   SMTP of the stack): duplicate checks, folio, PDF, account, S3 put, role, link, email.
   The per-address registration limit is raised for this run only;
3. the same POST against the served `registro` (gunicorn over HTTP), a few samples only:
   its limit stays at the configured 10 per hour per address.
Accounts created here are deleted at the end.
"""
from __future__ import annotations

import re
import statistics
import time
import uuid

import requests

from registro import create_app
from registro.config import Settings
from registro.workflow.responsiva import render_responsiva, responsiva_context
from tests.support.registration import csrf_token, mexican_form, post_registration, random_person
# The real-stack fixtures of the integration tests (requested by name).
from tests.integration.conftest import gateway, kc_settings, registered_emails, stack  # noqa: F401

PDF_RUNS = 40
POST_RUNS = 30
SERVED_RUNS = 8


def summary(label: str, samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{label}: n={len(ms)} mediana={statistics.median(ms):.1f} ms p95={p95:.1f} ms máx={ms[-1]:.1f} ms"


def test_bench_pdf_rendering_alone():
    app = create_app({"SETTINGS": Settings.from_env(), "TESTING": True})
    curp, rfc = random_person()
    context = responsiva_context(first_name="Ana María", last_name="Peña Núñez", email="ana@example.com", attributes={
        "folio": "AU-2026-7K3M9QX2", "fecha_registro": "2026-01-15T18:00:00+00:00", "curp": curp, "rfc": rfc,
        "tipo_usuario": "agente_aduanal", "es_extranjero": "false", "pais": "MX", "estado": "Jalisco",
        "localidad": "Guadalajara", "colonia": "Centro", "codigo_postal": "44100", "numero_exterior": "12",
        "calle": "Av. Juárez"})
    samples = []
    with app.test_request_context():
        render_responsiva(context)  # warm-up: fonts and Pango load once per process
        for _ in range(PDF_RUNS):
            t0 = time.perf_counter()
            pdf = render_responsiva(context)
            samples.append(time.perf_counter() - t0)
    assert pdf.startswith(b"%PDF")
    print("\n" + summary("PDF de la responsiva (WeasyPrint, solo render)", samples))


def test_bench_registration_post_in_process(registered_emails):  # noqa: F811
    settings = Settings.from_env().with_changes(registration_limits="100000 per hour")
    client = create_app({"SETTINGS": settings, "TESTING": True}).test_client()
    run = uuid.uuid4().hex[:8]
    post_registration(client, {})  # warm-up: imports, Keycloak token, WeasyPrint fonts
    samples = []
    for i in range(POST_RUNS):
        curp, rfc = random_person()
        email = f"bench-{run}-{i}@example.com"
        registered_emails.append(email)
        token = csrf_token(client.get("/registro").get_data(as_text=True))
        data = {**mexican_form(curp=curp, rfc=rfc, email=email), "csrf_token": token}
        t0 = time.perf_counter()
        r = client.post("/registro", data=data)
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    print("\n" + summary("POST /registro en proceso (Keycloak, S3 y SMTP reales)", samples))


def test_bench_registration_post_served(stack, registered_emails):  # noqa: F811
    run = uuid.uuid4().hex[:8]
    samples = []
    for i in range(SERVED_RUNS):
        session = requests.Session()
        form = session.get(f"{stack.registro_url}/registro", timeout=30)
        curp, rfc = random_person()
        email = f"bench-http-{run}-{i}@example.com"
        registered_emails.append(email)
        data = {**mexican_form(curp=curp, rfc=rfc, email=email), "csrf_token": csrf_token(form.text)}
        t0 = time.perf_counter()
        r = session.post(f"{stack.registro_url}/registro", data=data, allow_redirects=False, timeout=60)
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 302, re.sub(r"\s+", " ", r.text)[-800:]
    print("\n" + summary("POST /registro servido (gunicorn, HTTP)", samples))
