"""`python -m registro.ops.retry_emails` (`make retry-emails`): every email that used up its attempts
(`fallido`, alert CorreosAbandonados) goes back to the outbox with its attempts reset, once SMTP works again.

After an outage longer than the outbox's retries (platform/outbox.give_up_after_s, ≈ 3 h) the console's
"Reenviar correo", one row at a time, is no way to recover hundreds of emails. The running replicas' outbox
workers send them within their next poll (5 s); this command only needs DATABASE_URL. Prints how many were
queued (no addresses, no contents).
"""
from __future__ import annotations

import argparse
import os
import sys

from registro.platform.db import Database, DatabaseUnavailable
from registro.platform.outbox import PgOutboxStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registro.ops.retry_emails",
                                     description="Vuelve a poner en la cola de envío todos los correos fallidos.")
    parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("error: falta DATABASE_URL", file=sys.stderr)
        return 2
    database = Database(url, pool_size=1, max_overflow=0)
    try:
        queued = PgOutboxStore(database).retry_failed()
    except DatabaseUnavailable as exc:
        print(f"error: la base de datos no responde ({exc}); vuelva a ejecutarlo", file=sys.stderr)
        return 1
    finally:
        database.engine.dispose()
    print(f"{queued} correo(s) fallido(s) de nuevo en la cola de envío; las réplicas los envían en segundos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
