"""The reliability suite (issue 11): property-based fuzzing of the public forms and the fault matrix.

Hypothesis budgets: `make test` runs a fixed, reproducible budget (profile "prueba", derandomized,
FUZZ_EXAMPLES examples per property, 40 by default); `make fuzz` runs profile "fuzz" (random seeds,
FUZZ_EXAMPLES, 600 by default). Nothing is written to a Hypothesis database: a failure prints the
example that reproduces it.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The real stack's fixtures (Keycloak, S3, mail catcher) for the fault matrix and the stack fuzzing.
from tests.integration.conftest import (gateway, kc_admin, kc_settings, keycloak_gateway, mailbox,  # noqa: F401
                                        service_settings, stack, storage)

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])
settings.register_profile("prueba", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), derandomize=True,
                          **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "600")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "prueba"))


def pytest_terminal_summary(terminalreporter):
    """Reports how many fuzzed examples ran (the figure the lead asked for)."""
    from tests.reliability import counters

    from tests.reliability.test_fault_matrix import RESULTS

    if RESULTS:
        terminalreporter.write_sep("-", "matriz de fallas: celdas")
        for cell, outcome in sorted(RESULTS.items()):
            terminalreporter.write_line(f"{cell}: {outcome}")
        passing = sum(1 for o in RESULTS.values() if o == "ok")
        terminalreporter.write_line(f"celdas que pasan: {passing} de {len(RESULTS)}")
    if counters.EXAMPLES:
        terminalreporter.write_sep("-", "fuzzing: ejemplos ejecutados")
        for name, n in sorted(counters.EXAMPLES.items()):
            terminalreporter.write_line(f"{name}: {n}")
        terminalreporter.write_line(f"total: {sum(counters.EXAMPLES.values())}")
