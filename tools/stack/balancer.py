"""HAProxy in front of both Keycloak nodes, both registro replicas and S3: one template rendered
for the prod profile (this machine's ports, tools/stack/prod.py) and for docker-compose.yml
(deploy/haproxy.cfg, the compose network's names); a unit test keeps the rendered file current.

Public fronts speak TLS only (the plain HTTP ports answer with a permanent redirect), send HSTS and
tell the backends the real protocol; the balancer itself refuses /metrics, buffers each request before
a replica sees it (slow clients), answers 408/502/503/504 with a Spanish page of its own, and logs
every server state change with a timestamp.
"""
from __future__ import annotations

import csv
import socket
from dataclasses import dataclass
from pathlib import Path

BODY_LIMIT_BYTES = 11 * 1024 * 1024  # one 10 MiB document plus the form around it
# The path the balancer probes: `/health/live`. `/health/ready` also needs Keycloak, S3 and SMTP,
# so one dependency down would take every replica out of rotation at once, while each replica
# still answers with its clear Spanish errors (and queues what can wait); readiness is for alerts.
REGISTRO_HEALTH_PATH = "/health/live"
HSTS = "max-age=31536000"
ERROR_STATUSES = (408, 502, 503, 504)


@dataclass(frozen=True)
class BalancerLayout:
    """Where the balancer listens and what it sends to."""
    registro_bind: str  # TLS
    keycloak_bind: str  # TLS: Keycloak's public `hostname`
    keycloak_admin_bind: str  # plain HTTP on the internal network: admin console, services' back channel
    s3_bind: str  # TLS: browsers' direct uploads
    registro_url: str  # where plain HTTP is sent: the public URLs (or "${VAR}", expanded by HAProxy)
    keycloak_url: str
    certificate: str  # PEM bundle: certificate, chain and key
    errors_dir: str  # 502.http, 503.http, 504.http (error_pages)
    source: str | None  # the address the backends see and trust X-Forwarded-* from
    keycloak_servers: tuple[tuple[str, str, int], ...]  # (name, host:port, management port)
    registro_servers: tuple[tuple[str, str], ...]  # (name, host:port)
    s3_server: str
    registro_http_bind: str | None = None
    keycloak_http_bind: str | None = None
    resolver: str | None = None  # DNS server for names that may not exist yet when the balancer starts
    stats_socket: str | None = None  # the runtime API (server states), for operators and benchmarks


def haproxy_config(layout: BalancerLayout, rendered_by: str = "tools/stack/balancer.py") -> str:
    crt = f"ssl crt {layout.certificate} alpn h2,http/1.1"
    # Slow clients (issue 21, item 7): a request reaches a replica only once the balancer holds it whole,
    # or a full buffer of it (a larger upload then flows at the client's pace), so a client trickling its
    # body ties up the balancer's buffers, never one of the replicas' few gunicorn threads.
    # `http-request wait-for-body` after the 413 rule, not `option http-buffer-request`, which waits for
    # the body before any rule: an oversized upload then got a 408 after 15 s instead of an immediate 413.
    headers = f"""
  # The balancer is the only source of these headers: whatever a client sent is replaced.
  http-request set-header X-Request-ID %[unique-id]
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
  http-request set-header X-Forwarded-Proto http unless {{ ssl_fc }}
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  # gunicorn takes the mount point from a SCRIPT_NAME header when a trusted proxy (this balancer) sends it.
  http-request del-header SCRIPT_NAME
  http-request set-var(txn.route) path,field(2,/)
  http-response set-header X-Request-ID %[unique-id]
  http-response set-header Strict-Transport-Security "{HSTS}" if {{ ssl_fc }}
  http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {BODY_LIMIT_BYTES} }}
  # Held whole (or a full buffer) before a backend sees it; after the 413 rule so that one answers at once.
  http-request wait-for-body time 15s"""
    # Metrics are scraped from each replica directly, never through the balancer: decoded, with
    # slashes merged and in any case, as the application would route the path.
    no_metrics = "\n  http-request deny deny_status 404 if { path,url_dec,regsub(/+,/,g),lower -m beg /metrics }"
    # No path in the log: confirmation and action tokens travel in paths. The first segment says
    # enough to tell the journeys apart.
    log_format = ('{"ts":"%tr","request_id":"%ID","client":"%ci","frontend":"%f","backend":"%b",'
                  '"server":"%s","method":"%HM","route":"%[var(txn.route)]","status":%ST,'
                  '"bytes":%B,"ms":%Ta,"retries":%rc}')
    kc = "\n".join(f"  server {name} {address} check port {mgmt} cookie {name}"
                   for name, address, mgmt in layout.keycloak_servers)
    reg = "\n".join(f"  server {name} {address} check cookie {name}" for name, address in layout.registro_servers)
    source = (f"  # The backends see the balancer from its own address, the only one they trust X-Forwarded-* from.\n"
              f"  source {layout.source}\n") if layout.source else ""
    # Admin level (servers in and out of maintenance): the socket is 0600 in the balancer's 0700 folder.
    stats = f"  stats socket {layout.stats_socket} mode 600 level admin\n" if layout.stats_socket else ""
    resolvers, server_defaults = "", ""
    if layout.resolver:
        # The replicas may start after the balancer: their names resolve when they appear.
        resolvers = f"\nresolvers names\n  nameserver dns {layout.resolver}\n  hold valid 10s\n"
        server_defaults = " resolvers names init-addr last,libc,none"
    errors = "\n".join(f"  errorfile {status} {layout.errors_dir}/{status}.http" for status in ERROR_STATUSES)

    def redirect(name: str, bind: str | None, target: str) -> str:
        return "" if not bind else f"""
frontend {name}
  # Plain HTTP only sends people to the HTTPS front (path and query kept).
  bind {bind}
  http-request redirect prefix "{target}" code 301
"""

    return f"""# Rendered by {rendered_by}: HAProxy in front of both Keycloak nodes, both
# registro replicas and S3. deploy/haproxy.cfg is the same template for docker-compose.yml.
global
  # fd 3 is the log (the process is started with 3>&1): `-q` closes stdout and stderr, so state
  # changes are written once, as timestamped log lines, not also as bare console warnings.
  log fd@3 format raw local0
  maxconn 4000
  # Mozilla's "intermediate" profile: TLS 1.2 and 1.3, forward-secret AEAD ciphers only.
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
{stats}{resolvers}
defaults
  mode http
  log global
  log-format '{log_format}'
  unique-id-format %[uuid()]
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # `timeout http-request` bounds the wait for a request's headers, and for its body in the frontends'
  # `http-request wait-for-body` (408, with our page).
  timeout http-request 15s
  timeout queue 15s
  # A request that found its server dead goes to the other one (never a request already answered).
  option redispatch 1
  retries 2
  retry-on conn-failure empty-response
  # A Spanish page (with its English translation) when no backend answers, not HAProxy's own.
{errors}
{source}  default-server inter 1s fastinter 500ms downinter 2s fall 2 rise 2{server_defaults}

frontend registro
  bind {layout.registro_bind} {crt}{headers}{no_metrics}
  default_backend registro
{redirect("registro-http", layout.registro_http_bind, layout.registro_url)}
frontend keycloak
  bind {layout.keycloak_bind} {crt}{headers}{no_metrics}
  # The public hostname serves logins only: no admin console, no admin API, no master realm.
  http-request deny deny_status 404 if {{ path_beg /admin }} || {{ path_beg /realms/master }}
  default_backend keycloak
{redirect("keycloak-http", layout.keycloak_http_bind, layout.keycloak_url)}
frontend keycloak-admin
  # Internal only: operators and the services' back channel (admin API, token endpoint).
  bind {layout.keycloak_admin_bind}{headers}
  default_backend keycloak

frontend s3
  # Browsers send documents straight to the bucket (presigned PUT; the Host header is signed and
  # passes unchanged).
  bind {layout.s3_bind} {crt}{headers}
  default_backend s3

backend registro
  # Server state changes with a timestamp (the access log above carries its own `ts`).
  no log
  log fd@3 format iso local0
  balance roundrobin
  # Persistence by cookie only makes the serving replica visible (and choosable by the tests); the
  # replicas share everything (Redis, S3, Keycloak), so a request may land on either.
  cookie REGISTRO_NODO insert indirect nocache httponly secure
  option httpchk GET {REGISTRO_HEALTH_PATH}
  http-check expect status 200
{reg}

backend keycloak
  no log
  log fd@3 format iso local0
  balance roundrobin
  cookie KC_NODO insert indirect nocache httponly secure
  option httpchk GET /health/ready
  http-check expect status 200
{kc}

backend s3
  no log
  log fd@3 format iso local0
  server s3 {layout.s3_server} check
"""


def argv(config: Path | str) -> list[str]:
    """How HAProxy is started (in the foreground, its log on fd 3: see the config's `global`)."""
    return ["sh", "-c", 'exec haproxy -db -q -f "$1" 3>&1', "haproxy", str(config)]


# --- the error pages --------------------------------------------------------------------------
PAGES = {
    408: ("La solicitud tardó demasiado", "Su navegador tardó demasiado en enviar la solicitud. Revise su "
          "conexión e intente de nuevo.", "The request took too long",
          "Your browser took too long to send the request. Check your connection and try again."),
    502: ("Servicio no disponible", "El servicio no está disponible en este momento. Intente de nuevo en unos "
          "minutos; sus datos no se perdieron.", "Service unavailable",
          "The service is not available right now. Please try again in a few minutes; your data was not lost."),
    503: ("Servicio no disponible", "El servicio no está disponible en este momento. Intente de nuevo en unos "
          "minutos; sus datos no se perdieron.", "Service unavailable",
          "The service is not available right now. Please try again in a few minutes; your data was not lost."),
    504: ("El servicio tardó demasiado", "El servicio tardó demasiado en responder. Intente de nuevo en unos "
          "minutos.", "The service took too long",
          "The service took too long to answer. Please try again in a few minutes."),
}
REASONS = {408: "Request Timeout", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def error_page(status: int) -> bytes:
    """The whole HTTP response HAProxy sends (an `errorfile`): no backend is there to render the
    application's own page, so it is self-contained (no stylesheet, no script)."""
    title, text, title_en, text_en = PAGES[status]
    body = f"""<!doctype html>
<html lang="es-MX">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Acceso Único, ANAM</title>
<style>
body{{margin:0;font-family:system-ui,sans-serif;color:#1f1f1f;background:#f5f5f5}}
header{{background:#611232;color:#fff;padding:1rem 1.5rem;font-weight:600}}
main{{max-width:40rem;margin:2rem auto;padding:0 1.5rem}}
section{{background:#fff;border-radius:.5rem;padding:1.5rem;margin-bottom:1rem}}
h1{{font-size:1.5rem;color:#611232;margin-top:0}} h2{{font-size:1.2rem;margin-top:0}}
</style>
</head>
<body>
<header>Acceso Único — Agencia Nacional de Aduanas de México</header>
<main>
<section><h1>{title}</h1><p>{text}</p><p>Error {status}</p></section>
<section lang="en"><h2>{title_en}</h2><p>{text_en}</p></section>
</main>
</body>
</html>
""".encode()
    head = (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nRetry-After: 30\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def write_error_pages(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for status in ERROR_STATUSES:
        (folder / f"{status}.http").write_bytes(error_page(status))


# --- the runtime API --------------------------------------------------------------------------
def stats_command(socket_path: Path, command: str) -> str:
    """One command on the balancer's runtime API (e.g. `show stat`)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_states(socket_path: Path) -> dict[str, str]:
    """{"keycloak/kc-a": "UP", …} as the balancer sees its servers now."""
    rows = csv.DictReader(stats_command(socket_path, "show stat").lstrip("# ").splitlines())
    return {f"{r['pxname']}/{r['svname']}": r["status"] for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}
