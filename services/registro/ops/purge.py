"""`python -m registro.ops.purge [--dry-run]`: deletes expired applications (SPEC §9) and the documents of decided
applications past their retention period (ops/retention.py). Run it daily (cron, a k8s CronJob…).

Reads the same environment as the service (Keycloak, S3, EXPIRE_UNCONFIRMED_DAYS, EXPIRE_INCOMPLETE_DAYS).
Prints one line per application (account id, status, registration date; no personal data).
"""
from __future__ import annotations

import argparse
import logging
import sys

from keycloak_ext import IdentityError

from registro.adapters.captcha import Captcha
from registro.adapters.storage import StorageUnavailable
from registro.config import Settings
from registro.container import real_adapters
from registro.ops.expiry import purge_expired
from registro.platform.db import DatabaseUnavailable
from registro.ops.retention import apply_retention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.ops.purge",
                                     description="Elimina las solicitudes sin confirmar o sin concluir que expiraron.")
    parser.add_argument("--dry-run", action="store_true", help="solo lista lo que se eliminaría")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    adapters = real_adapters(settings)
    try:
        expired = purge_expired(adapters.identity, adapters.storage, settings, dry_run=args.dry_run,
                                traces=adapters.document_traces())
        retired = apply_retention(adapters.identity, adapters.storage, settings, audit=adapters.audit,
                                  traces=adapters.document_traces(), dry_run=args.dry_run)
        # Used captcha solutions only matter until their challenge expires.
        swept = 0 if args.dry_run else Captcha(settings.captcha_hmac_key, settings.captcha_ttl_s,
                                               adapters.used_captchas).forget_expired()
    except (IdentityError, StorageUnavailable, DatabaseUnavailable) as exc:
        print(f"error: no se pudo completar la depuración ({type(exc).__name__}); vuelva a ejecutarla", file=sys.stderr)
        return 1
    verb = "se eliminaría" if args.dry_run else "eliminada"
    for item in expired:
        print(f"{verb}: {item.account_id} estatus={item.status} registro={item.registered_at.isoformat()} "
              f"objetos={item.objects}")
    print(f"{len(expired)} solicitud(es) expirada(s){' (simulación)' if args.dry_run else ''}")
    for item in retired:
        print(f"documentos {'por eliminar' if args.dry_run else 'eliminados'} (conservación): {item.account_id} "
              f"estatus={item.status} decisión={item.decided_at.isoformat()} objetos={item.objects}")
    if not args.dry_run:
        print(f"{swept} marca(s) de captcha vencidas eliminadas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
