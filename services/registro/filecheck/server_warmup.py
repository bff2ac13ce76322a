"""Imported by the fork server alone (sandbox._get_context preloads it): the parsers' first-use costs — the
lazy imports and caches of pypdf and Pillow met on small files of our own — are paid once there, and every
child the server forks inherits them. A spare child then warms in a few milliseconds instead of ≈ 27 (the
rest of its preparation is faulting in its heap), so it is ready sooner after the check it replaces."""
from __future__ import annotations

import os

from registro.filecheck import parsers

WARMED_IN = 0  # the process that paid the warm-up: the server's pid, in every child it forks
try:
    parsers.warm_up()
    WARMED_IN = os.getpid()
except Exception:  # noqa: BLE001 - the server must start whatever happens: each spare then warms itself
    pass


def inherited(data: bytes) -> bool:
    """Run in a child: whether its parsers were warmed by the process it was forked from."""
    return WARMED_IN not in (0, os.getpid())
