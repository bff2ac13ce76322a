"""`python -m registro.claims backfill`: claims the identifiers of accounts made before claims existed.

Run once when deploying the claim-based uniqueness onto a realm that already has applications
(idempotent: an existing claim is left as it is). Walks every application status with Keycloak's
attribute search — fine for a one-off maintenance command, never on the request path.
Prints counts only (no personal data).
"""
from __future__ import annotations

import argparse
import logging
import sys

from keycloak_ext import IdentityError

from .adapters.storage import StorageUnavailable
from .config import Settings
from .container import real_adapters
from .domain import status
from .workflow.claims import Claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.claims",
                                     description="Reclamos de unicidad (CURP, RFC, pasaporte, correo).")
    parser.add_argument("command", choices=["backfill"], help="crea los reclamos de las cuentas existentes")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    adapters = real_adapters(settings)
    claims = Claims(adapters.storage, adapters.identity)
    created = accounts = 0
    try:
        for current in sorted(status.OPEN | {status.APROBADO}):
            batch = list(adapters.identity.iter_by_attribute("estatus", current))
            accounts += len(batch)
            created += claims.backfill(batch)
    except (IdentityError, StorageUnavailable) as exc:
        print(f"error: no se pudo completar ({type(exc).__name__}); vuelva a ejecutarlo", file=sys.stderr)
        return 1
    print(f"{accounts} cuenta(s) revisadas, {created} reclamo(s) creados")
    return 0


if __name__ == "__main__":
    sys.exit(main())
