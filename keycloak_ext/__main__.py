"""`python -m keycloak_ext provision|check|render-import DIR`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .catalog import REVIEWER_ROLE, SUPERVISOR_ROLE
from .errors import AccountConflict, IdentityError, IdentityUnavailable
from .gateway import KeycloakGateway
from .passwords import temporary_password
from .provisioning import RealmProvisioner, catalog_mismatches
from .realm_files import load_realm, load_user_profile, write_import
from .settings import KeycloakSettings
from .shipped_secrets import InsecureSettings, realm_secret_placeholders, refuse_shipped_secrets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keycloak_ext")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="aplica realm-config/ al reino en vivo (idempotente)")
    sub.add_parser("check", help="informa diferencias entre realm-config/ y el reino; sale con 1 si hay")
    render = sub.add_parser("render-import", help="escribe el archivo que Keycloak importa al arrancar")
    render.add_argument("target", type=Path)
    reviewer = sub.add_parser("add-reviewer", help="crea un revisor (rol revisor) con una contraseña temporal")
    reviewer.add_argument("username")
    reviewer.add_argument("email")
    reviewer.add_argument("--nombre", default="Revisor")
    reviewer.add_argument("--apellidos", default="ANAM")
    reviewer.add_argument("--supervisor", action="store_true", help="además, el rol supervisor (/supervision)")
    args = parser.parse_args(argv)

    problems = catalog_mismatches(load_realm(), load_user_profile())
    if problems:
        print("realm-config/ no coincide con el catálogo:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.command == "render-import":
        print(write_import(args.target))
        return 0

    try:
        refuse_provisioning_defaults(os.environ)
    except InsecureSettings as exc:
        print(exc, file=sys.stderr)
        return 4
    settings = KeycloakSettings.from_env()
    if args.command == "add-reviewer":
        return add_reviewer(KeycloakGateway.for_bootstrap_admin(settings), args)
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


def refuse_provisioning_defaults(env) -> None:
    """Provisioning writes the realm's client secrets from the environment and logs in as the
    bootstrap admin: outside a local stack each of those must be set and not a shipped value."""
    placeholders = realm_secret_placeholders()
    required = ["KC_BOOTSTRAP_ADMIN_PASSWORD"] + [name for name, default in placeholders.items() if default]
    optional = [name for name, default in placeholders.items() if not default]
    refuse_shipped_secrets(env, required=required, optional=optional)


def add_reviewer(gateway: KeycloakGateway, args: argparse.Namespace) -> int:
    """An operator's way to give someone the review console: no click-ops in the admin console.
    The temporary password is printed once, to the operator's terminal; Keycloak forces a change
    (and the OTP enrolment) at the first login."""
    password = temporary_password(args.username, args.email)
    try:
        account_id = gateway.create_account(username=args.username, email=args.email, first_name=args.nombre,
                                            last_name=args.apellidos, attributes={}, enabled=True,
                                            email_verified=True)
        gateway.assign_realm_role(account_id, REVIEWER_ROLE)
        if args.supervisor:
            gateway.assign_realm_role(account_id, SUPERVISOR_ROLE)
        gateway.set_temporary_password(account_id, password)
        # From now on the service account may not touch this account (least privilege).
        RealmProvisioner(gateway.admin).protect_accounts()
    except AccountConflict:
        print(f"ya existe una cuenta con el usuario {args.username} o el correo {args.email}", file=sys.stderr)
        return 1
    except IdentityError as exc:
        print(f"Keycloak rechazó o no atendió la solicitud: {exc}", file=sys.stderr)
        return 3
    print(f"revisor creado: {args.username}\ncontraseña temporal (se pedirá cambiarla): {password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
