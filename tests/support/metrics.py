"""registro's /metrics as tests and benchmarks read it: Prometheus text, parsed by prometheus_client's own
parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

KEYCLOAK_REQUESTS = "registro_keycloak_requests_total"


def keycloak_requests(text: str) -> dict[tuple[str, str, str], float]:
    """registro's requests to Keycloak so far (observability/counters.KEYCLOAK_REQUESTS):
    (endpoint, method, status class) → count; empty before the first."""
    return {(s.labels["endpoint"], s.labels["method"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == KEYCLOAK_REQUESTS}
