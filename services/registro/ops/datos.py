"""Operator command for the ARCO rights of one applicant (issue 14 §4).

    python -m registro.ops.datos exportar <folio|usuario> --operador NOMBRE [--salida archivo.zip]
    python -m registro.ops.datos cancelar <folio|usuario> --operador NOMBRE --confirmar

`exportar` writes one ZIP with everything held about the person (Keycloak account and attributes,
documents, responsiva, audit trail). `cancelar` deletes the documents and the account of an
application that was not approved, keeping in the audit trail its decisions and the documents'
SHA-256. Both record an audit event naming the operator (`--operador`, default: $USER). Reads the
same environment as the service (Keycloak, S3).
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from keycloak_ext import IdentityError

from registro.adapters.storage import StorageUnavailable
from registro.config import Settings
from registro.container import build
from registro.platform.db import DatabaseUnavailable
from registro.applicant.personal_data import CancellationRefused, HolderNotFound, Operator, cancel, export


def _operator(value: str | None) -> str:
    name = (value or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = ""
    return name


def main(argv: list[str] | None = None, adapters=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.ops.datos",
                                     description="Derechos ARCO: exporta o cancela los datos de un solicitante.")
    sub = parser.add_subparsers(dest="verbo", required=True)
    exp = sub.add_parser("exportar", help="escribe un ZIP con todos los datos de la persona")
    exp.add_argument("titular", help="folio (AU-…) o usuario")
    exp.add_argument("--operador", help="quién ejecuta la operación (queda en la auditoría)")
    exp.add_argument("--salida", type=Path, help="archivo ZIP a escribir (por omisión datos-<folio|usuario>.zip)")
    can = sub.add_parser("cancelar", help="elimina documentos y cuenta de una solicitud no aprobada")
    can.add_argument("titular", help="folio (AU-…) o usuario")
    can.add_argument("--operador", help="quién ejecuta la operación (queda en la auditoría)")
    can.add_argument("--confirmar", action="store_true", help="necesario: la cancelación no se puede deshacer")
    args = parser.parse_args(argv)
    operator = _operator(args.operador)
    if not operator:
        print("error: indique --operador", file=sys.stderr)
        return 2
    if adapters is None:
        adapters = build(Settings.from_env())  # the queue index included: a cancelled application leaves it
    try:
        if args.verbo == "exportar":
            target = args.salida or Path(f"datos-{args.titular.strip()}.zip")
            written = export(adapters.identity, adapters.storage, args.titular, target, Operator(operator),
                             audit=adapters.audit, applications=adapters.applications)
            print(f"datos exportados en {written}")
            return 0
        if not args.confirmar:
            print("error: la cancelación elimina documentos y cuenta sin vuelta atrás; repita con --confirmar",
                  file=sys.stderr)
            return 2
        done = cancel(adapters.identity, adapters.storage, args.titular, Operator(operator),
                      audit=adapters.audit, traces=adapters.document_traces(), applications=adapters.applications)
        print(f"datos cancelados: solicitud {done['solicitud']} folio {done['folio']}, {done['objetos']} objeto(s) "
              "eliminado(s); la auditoría conserva las decisiones y los SHA-256")
        return 0
    except HolderNotFound:
        print("error: no hay una solicitud con ese folio o usuario", file=sys.stderr)
        return 1
    except CancellationRefused:
        print("error: la solicitud está aprobada (cuenta en uso); su cancelación requiere deshabilitarla antes",
              file=sys.stderr)
        return 1
    except (IdentityError, StorageUnavailable, DatabaseUnavailable) as exc:
        print(f"error: no se pudo completar ({type(exc).__name__}); vuelva a ejecutarlo", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
