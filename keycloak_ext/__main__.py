"""`python -m keycloak_ext provision|check|render-import DIR`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import IdentityUnavailable
from .gateway import KeycloakGateway
from .provisioning import RealmProvisioner, catalog_mismatches
from .realm_files import load_realm, load_user_profile, write_import
from .settings import KeycloakSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keycloak_ext")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="aplica realm-config/ al reino en vivo (idempotente)")
    sub.add_parser("check", help="informa diferencias entre realm-config/ y el reino; sale con 1 si hay")
    render = sub.add_parser("render-import", help="escribe el archivo que Keycloak importa al arrancar")
    render.add_argument("target", type=Path)
    args = parser.parse_args(argv)

    problems = catalog_mismatches(load_realm(), load_user_profile())
    if problems:
        print("realm-config/ no coincide con el catálogo:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.command == "render-import":
        print(write_import(args.target))
        return 0

    settings = KeycloakSettings.from_env()
    provisioner = RealmProvisioner(KeycloakGateway.for_bootstrap_admin(settings).admin)
    try:
        if args.command == "check":
            drift = [c.description for c in provisioner.plan()]
            for line in drift:
                print(f"diferencia: {line}")
            print("sin diferencias" if not drift else f"{len(drift)} diferencia(s)")
            return 1 if drift else 0
        applied = provisioner.apply()
        for line in applied:
            print(f"aplicado: {line}")
        print("reino al día" if not applied else f"{len(applied)} cambio(s) aplicados")
        return 0
    except IdentityUnavailable as exc:
        print(f"Keycloak no disponible: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
