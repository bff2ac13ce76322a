"""`python -m registro.reindex`: rebuilds the review-queue index from Keycloak and reports drift.

Exit status: 0 when the index agreed (or was repaired), 1 with `--check` when it did not,
3 when Keycloak, S3 or Redis could not be reached (nothing half-done matters: run it again).
"""
from __future__ import annotations

import argparse
import sys

from keycloak_ext import IdentityError

from .adapters.storage import StorageUnavailable
from .config import Settings
from .container import real_adapters
from .workflow.queue_index import QueueIndexUnavailable, index_for
from .workflow.queue_reconcile import reconcile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.reindex",
                                     description="Reconstruye el índice de la cola de revisión desde Keycloak.")
    parser.add_argument("--check", action="store_true", help="solo informa diferencias; sale con 1 si hay")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    adapters = real_adapters(settings)
    index = index_for(settings.redis_url)
    if not settings.redis_url:
        print("aviso: REDIS_URL no está definida; el índice en memoria de este proceso no es el de la consola",
              file=sys.stderr)
    try:
        drift = reconcile(adapters.identity, adapters.storage, index, repair=not args.check,
                          lease_s=settings.claim_lease_s)
    except (IdentityError, StorageUnavailable, QueueIndexUnavailable) as exc:
        print(f"error: no se pudo reconstruir el índice ({type(exc).__name__}); vuelva a ejecutarlo", file=sys.stderr)
        return 3
    print(f"en revisión según Keycloak: {drift.pending}")
    print(f"faltaban en el índice: {len(drift.missing)}")
    print(f"sobraban en el índice: {len(drift.extra)}")
    print(f"entradas desactualizadas: {len(drift.stale)}")
    print(f"reservas corregidas: {drift.reservations_fixed}")
    if args.check:
        print("sin diferencias" if drift.total == 0 else f"{drift.total} diferencia(s)")
        return 1 if drift.total else 0
    print("índice al día" if drift.total == 0 else f"{drift.total} diferencia(s) reparadas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
