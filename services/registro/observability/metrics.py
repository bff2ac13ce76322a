"""Prometheus metrics of `registro`, correct under several gunicorn workers.

Under gunicorn, `registro.gunicorn_conf` sets PROMETHEUS_MULTIPROC_DIR (one folder per stack,
emptied at start; dead workers are marked in `child_exit`) before any worker imports this module,
so prometheus_client keeps every counter in memory-mapped files that any worker's `/metrics`
sums. Without it (unit tests, `flask run`) the values live in this process.

Counters (counters.py) are incremented where the outcome is known: the view layer (`outcomes.py` maps
an endpoint's answer to its outcome) or an explicit `count(...)` call. Label values come from fixed
sets, and latency is labelled with Flask's endpoint name, never a path: no label can carry personal
data. The review queue's gauges are computed when scraped (`queue.py`), and so are the
outbox's and the half-made registrations' (from registro's database: `delivery_stats`), the ones an
operator's alerts read (deploy/prometheus/alerts.yml). Those vanish while the database cannot be read, so
`registro_database_up` says so (0) and alert BaseDeDatosNoDisponible fires: /metrics itself still answers.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from registro.observability import outcomes
from registro.observability.counters import _REGISTRY, MULTIPROC_ENV, REQUEST_SECONDS, count
from registro.observability.queue import QueueStats, review_queue_stats
from registro.observability.request_id import STARTED_KEY
from registro.platform.outbox import OutboxHealth

log = logging.getLogger(__name__)

class _Gauges:
    """Values computed when scraped, as (name, help, value). A source that could not be read gives none:
    no value rather than a false 0."""

    def __init__(self, gauges: list[tuple[str, str, float]]) -> None:
        self.gauges = gauges

    def collect(self):
        for name, documentation, value in self.gauges:
            yield GaugeMetricFamily(name, documentation, value=value)


def _queue_gauges(stats: QueueStats | None) -> list[tuple[str, str, float]]:
    if stats is None:
        return []
    return [("registro_review_queue_length", "Applications waiting for review", stats.length),
            ("registro_review_oldest_pending_age_seconds",
             "Age of the oldest application waiting for review (0 when none)", stats.oldest_age_s)]


# A registration still `creando` this long after it began is one the reconciler (every minute, for intents
# older than 45 s: registration/reconcile.py) has failed to finish or undo: Keycloak or the database refuses it.
UNFINISHED_AFTER_S = 300.0


@dataclass(frozen=True)
class DeliveryStats:
    """registro's own database, as the alerts read it (deploy/prometheus/alerts.yml)."""
    outbox: OutboxHealth
    unfinished_registrations: int


def _delivery_gauges(stats: DeliveryStats | None) -> list[tuple[str, str, float]]:
    if stats is None:
        return []
    outbox = stats.outbox
    return [("registro_outbox_pending", "Emails waiting in the outbox (held ones included)", outbox.pending),
            ("registro_outbox_oldest_waiting_age_seconds", "Age of the oldest email that should have left already: "
             "due, or backing off after a refusal (0 when none)", outbox.oldest_waiting_s),
            ("registro_outbox_failed", "Emails that used up their attempts and wait for Reintentar in the console",
             outbox.failed),
            ("registro_registrations_unfinished",
             f"Registrations still being made {UNFINISHED_AFTER_S:.0f} s after they began",
             stats.unfinished_registrations)]


def _database_gauge(database_up: bool | None) -> list[tuple[str, str, float]]:
    if database_up is None:  # a process without a database
        return []
    return [("registro_database_up", "1 when registro's database answered this scrape's reads, 0 when it did not",
             1.0 if database_up else 0.0)]


def delivery_stats() -> DeliveryStats | None:
    """None without a database (a process started without DATABASE_URL serves no registration either)."""
    from registro.container import adapters

    a = adapters()
    if a.outbox_store is None or a.applications is None:
        return None
    return DeliveryStats(a.outbox_store.health(), a.applications.unfinished_count(UNFINISHED_AFTER_S))


class _ThisProcess:
    def collect(self):
        return _REGISTRY.collect()


def exposition(stats: QueueStats | None, delivery: DeliveryStats | None = None, *,
               database_up: bool | None = None) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # every worker's values, summed
    else:
        registry.register(_ThisProcess())
    registry.register(_Gauges(_queue_gauges(stats) + _delivery_gauges(delivery) + _database_gauge(database_up)))
    return generate_latest(registry)


# --- who may scrape ---------------------------------------------------------------------------
def _scraper_allowed(allowed_networks: tuple[str, ...]) -> bool:
    """Only a direct request from an allowed network: anything that came through a proxy carries
    X-Forwarded-For and is refused, so the public balancer can never expose the metrics."""
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    orig = request.environ.get("werkzeug.proxy_fix.orig", {})
    peer = orig.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in allowed_networks)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    from registro.container import settings

    if not _scraper_allowed(settings().metrics_allow_from):
        abort(404)
    try:
        stats = review_queue_stats()
    except Exception as exc:  # Keycloak down: the counters are still worth scraping
        log.warning("no se pudo leer la cola de revisión para las métricas: %s", type(exc).__name__)
        stats = None
    try:
        delivery = delivery_stats()
        database_up = None if delivery is None else True
    except Exception as exc:  # the database down: the counters are still worth scraping
        log.warning("no se pudo leer el buzón de salida para las métricas: %s", type(exc).__name__)
        delivery, database_up = None, False
    return Response(exposition(stats, delivery, database_up=database_up), content_type=CONTENT_TYPE_LATEST)


def install(app: Flask) -> None:
    from registro.extensions import limiter

    limiter.exempt(bp)
    app.register_blueprint(bp)

    @app.after_request
    def _measure(response):
        endpoint = request.endpoint or "sin_ruta"
        started = request.environ.get(STARTED_KEY)
        if started is not None:
            REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
        for name, value in outcomes.of(endpoint, request.method, response.status_code):
            count(name, value)
        return response
