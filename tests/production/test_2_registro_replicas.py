"""Two registro replicas behind the balancer: one journey survives losing a replica, limits are
shared, X-Forwarded-For is believed only from the balancer, metrics and logs per the contract."""
from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests

from registro.domain import documents as docs
from tests.production.conftest import all_logs, from_address, kill, metric_value, stored_documents
from tests.support.reviewer import post_form
from tests.production.http import BalancerClient
from tests.support import files
from tests.support.applications import path_of, submit, upload_valid_documents
from tests.support.registration import LINK_RE, mexican_form, post_registration, random_person
from tools.stack.prod import wait_balanced

UPLOADED = {docs.CURP: files.pdf_bytes(), docs.RESPONSIVA: files.jpeg_bytes(), docs.IDENTIFICACION: files.png_bytes()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Restarts a JVM or the whole stack: minutes on a shared 2-vCPU machine.
@pytest.mark.timeout(900)
def test_journey_through_the_balancer_survives_a_killed_replica(prod, env, registro, mailbox, gateway, s3,
                                                                reviewer_console, unique):
    curp, rfc = random_person()
    email = f"prod-{unique}@example.com"
    registro.pin("registro-a")
    r = post_registration(registro, mexican_form(curp=curp, rfc=rfc, email=email))
    assert r.status_code == 302 and r.location.endswith("/registro/enviado"), r.text[:500]
    assert registro.replica() == "registro-a"
    (link,) = set(LINK_RE.findall(mailbox.latest(email).text))
    assert link.startswith(env["REGISTRO_PUBLIC_URL"] + "/activacion/")

    kill(prod, "registro-a")  # mid-way: the replica that took the registration is gone
    try:
        assert registro.get(path_of(link)).status_code == 200
        upload_valid_documents(registro, link)
        assert registro.replica() == "registro-b", "the balancer moved the browser to the live replica"
        assert submit(registro, link).status_code == 303
    finally:
        prod.start("registro-a")
        prod.wait_ready("registro-a")
        wait_balanced(prod, "registro/registro-a")

    (account,) = gateway.find_by_attribute("curp", curp)  # one application, not a half-done second one
    assert account.attr("estatus") == "en_revision" and account.enabled is False
    assert stored_documents(s3, env["S3_BUCKET"], account.id) == \
        {kind: [sha256(data)] for kind, data in UPLOADED.items()}, "documentos perdidos, alterados o de más"

    assert post_form(reviewer_console, account.id, "reservar").status_code == 303
    assert post_form(reviewer_console, account.id, "aprobar").status_code == 303
    approved = gateway.get_account(account.id)
    assert approved.enabled is True and approved.attr("estatus") == "aprobado"
    credentials = mailbox.wait_for(email, 2)[-1]
    assert re.search(r"Contraseña temporal: (\S+)", credentials.text)

    # No personal data in any log line of the whole journey (balancer, replicas, Keycloak, …).
    for name, text in all_logs(prod).items():
        for value in (curp, rfc, rfc.lower(), email):
            assert value not in text, f"{name} contiene un dato personal"


def _post_form(session: requests.Session, base: str, extra_headers: dict | None = None) -> int:
    """An (incomplete) registration POST: the limit counts every POST of the form."""
    client = BalancerClient(base, session)
    page = client.get("/registro").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = session.post(f"{base}/registro", data={"csrf_token": token, "curp": "X"}, headers=extra_headers or {},
                     allow_redirects=False, timeout=30)
    return r.status_code


def test_registration_limit_is_shared_by_the_replicas_and_forwarded_for_is_trusted_only_from_the_balancer(
        env, service_settings):
    limit = int(service_settings.registration_limits.split(";")[0].split()[0])
    base = env["REGISTRO_PUBLIC_URL"]
    # One client address (127.0.0.5), alternating replicas; each request claims another origin.
    statuses = []
    for i in range(limit + 1):
        browser = from_address(requests.Session(), "127.0.0.5")
        replica = "registro-a" if i % 2 == 0 else "registro-b"
        browser.cookies.set("REGISTRO_NODO", replica, domain="127.0.0.1", path="/")
        statuses.append(_post_form(browser, base, {"X-Forwarded-For": f"10.1.2.{i}"}))
    assert all(s != 429 for s in statuses[:limit]) and statuses[limit] == 429, statuses
    for replica in ("registro-a", "registro-b"):
        browser = from_address(requests.Session(), "127.0.0.5")
        browser.cookies.set("REGISTRO_NODO", replica, domain="127.0.0.1", path="/")
        assert _post_form(browser, base) == 429, f"{replica} no comparte el límite"
        # Straight to the replica, not from the balancer: its X-Forwarded-For is not believed either.
        direct = from_address(requests.Session(), "127.0.0.5")
        port = env[f"REGISTRO_{replica[-1].upper()}_PORT"]
        assert _post_form(direct, f"http://127.0.0.1:{port}", {"X-Forwarded-For": "10.9.9.9"}) == 429
    # Another client behind the same balancer has its own allowance: the key is the client's address
    # as the balancer saw it, not the balancer's.
    assert _post_form(from_address(requests.Session(), "127.0.0.6"), base) != 429


def replica_metrics(env, replica: str) -> str:
    r = requests.get(f"http://127.0.0.1:{env[f'REGISTRO_{replica.upper()}_PORT']}/metrics", timeout=10)
    assert r.status_code == 200, f"/metrics de registro-{replica}: {r.status_code}"
    return r.text


def test_metrics_count_a_registration_through_either_replica_and_logs_carry_the_request_id(prod, env, mailbox,
                                                                                           unique):
    before = {r: metric_value(replica_metrics(env, r), "registro_registrations_total") for r in ("a", "b")}
    request_ids = {}
    for replica in ("a", "b"):
        client = BalancerClient(env["REGISTRO_PUBLIC_URL"])
        client.pin(f"registro-{replica}")
        curp, rfc = random_person()
        email = f"prod-{unique}-{replica}@example.com"
        r = post_registration(client, mexican_form(curp=curp, rfc=rfc, email=email))
        assert r.status_code == 302 and client.replica() == f"registro-{replica}"
        request_ids[replica] = r.headers["X-Request-ID"]
        mailbox.latest(email)
    for replica in ("a", "b"):
        text = replica_metrics(env, replica)
        assert metric_value(text, "registro_registrations_total") == before[replica] + 1, replica
        for line in text.splitlines():
            assert "@" not in line or line.startswith("#"), "ningún dato personal en las etiquetas"
    # The balancer's request id is in the replica's JSON log lines of that request.
    for replica, request_id in request_ids.items():
        lines = [json.loads(line) for line in prod.log_of(f"registro-{replica}").read_text().splitlines()
                 if line.startswith("{") and request_id in line]
        assert lines and all(entry.get("request_id") == request_id for entry in lines), replica


def test_balancer_refuses_a_body_over_the_limit_before_reading_it(env):
    import socket
    import ssl

    from tools.stack.prod import BODY_LIMIT_BYTES

    port = int(env["REGISTRO_PORT"])
    context = ssl.create_default_context(cafile=env["REQUESTS_CA_BUNDLE"])
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                             server_hostname="127.0.0.1") as sock:
        sock.sendall(f"POST /registro HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Type: application/octet-stream\r\nContent-Length: {BODY_LIMIT_BYTES + 1}\r\n\r\n".encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def test_balancer_drops_a_client_s_script_name_header(env):
    """gunicorn believes SCRIPT_NAME from a trusted proxy (the balancer): a client's must not reach it,
    or the client picks the mount point the service renders its links under."""
    base = env["REGISTRO_PUBLIC_URL"]
    r = requests.get(f"{base}/otro/registro", headers={"SCRIPT_NAME": "/otro"}, timeout=10)
    assert r.status_code == 404 and 'action="/otro/registro"' not in r.text
    assert requests.get(f"{base}/registro", headers={"SCRIPT_NAME": "/otro"}, timeout=10).status_code == 200


def test_a_document_sent_straight_to_s3_is_checked_by_one_replica_and_seen_by_the_other(env, registro, gateway,
                                                                                       service_settings, s3):
    """The browser's direct upload in the deployed topology: the page's origin (the balancer) may PUT to S3
    (the bucket's CORS rule as the stack applies it), replica a confirms and checks, and replica b, which
    never saw the upload, reports its outcome and shows the document (the state lives in S3)."""
    from registro.adapters.storage import S3Store
    from registro.domain.application import Application
    from tests.support.applications import create_application, delete_application, direct_upload

    storage = S3Store(service_settings.s3)
    account_id, link = create_application(gateway, storage, service_settings, status="pendiente_documentos")
    try:
        origin = env["REGISTRO_PUBLIC_URL"]

        def send(url, data, headers):
            preflight = requests.options(url, timeout=10, headers={
                "Origin": origin, "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": ",".join(h.lower() for h in headers)})
            assert preflight.headers.get("Access-Control-Allow-Origin") == origin, preflight.headers
            return requests.put(url, data=data, headers={**headers, "Origin": origin}, timeout=60).status_code

        data = files.pdf_bytes(padding=1024 * 1024)
        registro.pin("registro-a")
        issued, sent, confirmed = direct_upload(registro, link, docs.CURP, data, send)
        # Replica a checked it while the confirmation waited (DIRECT_UPLOAD_WAIT_SECONDS): the answer is the outcome.
        assert (issued.status_code, sent, confirmed.status_code) == (200, 200, 200), issued.text[:300]
        assert confirmed.get_json()["resultado"] == "cargado"
        assert registro.replica() == "registro-a"
        registro.pin("registro-b")  # which never saw the upload: its outcome, as the page's polling reads it
        assert registro.get(confirmed.get_json()["estado"]).get_json()["estado"] == "cargado"
        assert registro.replica() == "registro-b"
        assert "Se cargó el documento «CURP»." in registro.get(path_of(link)).text
        record = Application(gateway.get_account(account_id)).documents[docs.CURP]
        assert stored_documents(s3, env["S3_BUCKET"], account_id) == {docs.CURP: [sha256(data)]} and \
            record.sha256 == sha256(data)
    finally:
        delete_application(gateway, storage, account_id)
