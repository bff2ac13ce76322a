"""The counters and the latency histogram of `registro` (their exposition and the scrape: metrics.py).

Kept apart from the endpoint so that whatever counts an outcome (the outbox, handed `count` by the
container; a view) imports only this: prometheus_client's registry, nothing of the service.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# name → (metric, label, the only label values it may take)
_LABELS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "registrations": ("registro_registrations", "outcome", ("ok", "rechazada", "limitada", "error"),
                      "Registration form posts by outcome"),
    "confirmation_emails": ("registro_confirmation_emails", "outcome", ("enviado", "fallido"),
                            "Confirmation emails (registration and resend) by outcome"),
    "uploads": ("registro_uploads", "outcome", ("ok", "rechazado", "demasiado_grande", "no_permitido", "error"),
                "Document uploads by outcome"),
    "submissions": ("registro_submissions", "outcome", ("ok", "incompleta", "no_permitido", "error"),
                    "Applications sent to review by outcome"),
    "decisions": ("registro_decisions", "decision", ("aprobar", "corregir", "rechazar"),
                  "Reviewers' decisions"),
    "recoveries": ("registro_recoveries", "outcome", ("aceptada", "rechazada", "limitada", "error"),
                   "Password recovery requests by outcome"),
}
OTHER = "otro"

if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
    # prometheus_client was imported before the folder was set (any library may import it first):
    # choose its multiprocess values now, before the first metric of this module is built.
    values.ValueClass = values.get_value_class()

_REGISTRY = CollectorRegistry(auto_describe=True)
_COUNTERS: dict[str, Counter] = {}
for _name, (_metric, _label, _values, _help) in _LABELS.items():
    _COUNTERS[_name] = Counter(_metric, _help, [_label], registry=_REGISTRY)
    for _value in _values:  # every series exists from the start (rate() and alerts need a 0)
        _COUNTERS[_name].labels(_value)

REQUEST_SECONDS = Histogram("registro_request_seconds", "Time to answer a request, by Flask endpoint",
                            ["endpoint"], registry=_REGISTRY)


def count(name: str, value: str) -> None:
    """Adds one to counter `name` (a key of _LABELS) with label `value`; an unknown value is
    counted as "otro" so that no free text (let alone personal data) becomes a label."""
    _, _, allowed, _ = _LABELS[name]
    _COUNTERS[name].labels(value if value in allowed else OTHER).inc()


# Requests to Keycloak that it answered (admin API and token endpoint), told by the gateway
# (keycloak_ext.KeycloakGateway.for_service's on_answer), by the Flask endpoint that made them ("fondo":
# outside a request's own thread — the outbox, the reconciler, a helper thread): how much of the engine
# every module shares each page uses (issue 20: ≤ 2 per registration, none per upload), and whether
# Keycloak refuses.
BACKGROUND = "fondo"
KEYCLOAK_METHODS = ("GET", "POST", "PUT", "DELETE")
KEYCLOAK_STATUS = ("2xx", "3xx", "4xx", "5xx")
KEYCLOAK_REQUESTS = Counter("registro_keycloak_requests",
                            "Requests to Keycloak that it answered, by the endpoint that made them, method and status class",
                            ["endpoint", "method", "status"], registry=_REGISTRY)


def keycloak_answered(method: str, status: int, endpoint: str | None) -> None:
    """Counts one request Keycloak answered; `endpoint` is the Flask endpoint of the request that made
    it (a name from the app's url map, never a path), None outside a served request."""
    status_class = f"{status // 100}xx"
    KEYCLOAK_REQUESTS.labels(endpoint or BACKGROUND, method if method in KEYCLOAK_METHODS else OTHER,
                             status_class if status_class in KEYCLOAK_STATUS else OTHER).inc()
