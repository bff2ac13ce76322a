"""`python -m registro.ops.backfill [--dry-run]`: moves into registro's database the applications whose
record is still in Keycloak's attributes (made before the database kept it), when deploying issue 20 onto a
live realm: each gets its row (or its known row gets the record), then its Keycloak account keeps only
the attributes tokens need (kernel/records.KEPT_IN_KEYCLOAK).

Idempotent: an account whose status Keycloak no longer holds was moved already. Open and approved applications hold their
identifiers; rejected ones are recorded as rejected, their identifiers recorded released (free, yet
counted in the reviewer's "Solicitudes anteriores"). Two
accounts holding one CURP (possible before the unique index) are both recorded, the second without the
contested identifier; the count is printed so an operator can look (no personal data is printed).
Walks the realm with Keycloak's attribute search: fine for a one-off command, never on a request path.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from keycloak_ext import Account, IdentityError

from registro.adapters.identity import IdentityDirectory
from registro.domain import status
from registro.kernel.applications import ApplicationStore, FolioTaken, IdentifiersTaken, Intent, identifiers_of
from registro.kernel.records import KEPT_IN_KEYCLOAK
from registro.platform.db import DatabaseUnavailable


@dataclass
class Backfilled:
    seen: int = 0
    recorded: int = 0
    contested: int = 0  # recorded without an identifier another application already held
    skipped: int = 0  # a folio already recorded for another account


def backfill(keycloak: IdentityDirectory, applications: ApplicationStore, *, dry_run: bool = False) -> Backfilled:
    """`keycloak`: the gateway itself (the attributes as Keycloak holds them), not the service's
    RecordedIdentity."""
    done = Backfilled()
    for estatus in sorted(status.OPEN | {status.APROBADO, status.RECHAZADO}):
        for account in list(keycloak.iter_by_attribute("estatus", estatus)):
            done.seen += 1
            if dry_run:
                done.recorded += 1
                continue
            if not applications.knows_account(account.id) and not _record(applications, account, estatus, done):
                continue
            applications.adopt_record(account.id, email=account.email, first_name=account.first_name,
                                      last_name=account.last_name, attributes=account.attributes,
                                      enabled=account.enabled, email_verified=account.email_verified)
            keycloak.update_account(account.id, attributes={k: None for k in account.attributes
                                                            if k not in KEPT_IN_KEYCLOAK})
    return done


def _record(applications: ApplicationStore, account: Account, estatus: str, done: Backfilled) -> bool:
    intent = Intent.new(folio=account.attr("folio") or f"SIN-FOLIO-{account.id[:12]}", username=account.username,
                        link_version=account.attr("enlace_version") or "-",
                        es_extranjero=account.attr("es_extranjero") == "true", locale=account.attr("locale"))
    rejected = estatus == status.RECHAZADO
    ids = identifiers_of(account.attributes)
    try:
        applications.begin(intent, {} if rejected else ids)
    except FolioTaken:
        done.skipped += 1
        return False  # its record stays in Keycloak: an operator looks at it (the count is printed)
    except IdentifiersTaken as exc:
        applications.begin(intent, {k: v for k, v in ids.items() if k not in exc.kinds})
        done.contested += 1
    if rejected:  # before `complete`: once its account is known, a rerun skips this account
        applications.record_released(intent.id, ids)
    applications.complete(intent.id, account.id, None)
    if rejected:
        applications.reject(account.id, "registrada antes de la base de datos")
    done.recorded += 1
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.ops.backfill",
                                     description="Registra en la base de datos las solicitudes que solo existen en Keycloak.")
    parser.add_argument("--dry-run", action="store_true", help="solo cuenta lo que se registraría")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from registro.config import Settings
    from registro.container import real_adapters

    adapters = real_adapters(Settings.from_env())
    if adapters.applications is None:
        print("error: falta DATABASE_URL", file=sys.stderr)
        return 2
    try:
        done = backfill(getattr(adapters.identity, "keycloak", adapters.identity), adapters.applications,
                        dry_run=args.dry_run)
    except (IdentityError, DatabaseUnavailable) as exc:
        print(f"error: no se pudo completar ({type(exc).__name__}); vuelva a ejecutarlo: es idempotente", file=sys.stderr)
        return 1
    verb = "se registrarían" if args.dry_run else "registradas"
    print(f"{done.seen} cuenta(s) revisadas, {done.recorded} {verb}, {done.contested} sin un identificador ya "
          f"tomado por otra, {done.skipped} omitidas (folio ya registrado)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
