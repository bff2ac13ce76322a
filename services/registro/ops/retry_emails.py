"""`python -m registro.ops.retry_emails` (`make retry-emails`): every email that used up its attempts
(`fallido`, alert CorreosAbandonados) goes back to the outbox with its attempts reset, once SMTP works again.

After an outage longer than the outbox's retries (platform/outbox.give_up_after_s, ≈ 3 h) the console's
"Reenviar correo", one row at a time, is no way to recover hundreds of emails. The running replicas' outbox
workers send them within their next poll (5 s); this command only needs DATABASE_URL. Prints how many were
queued (no addresses, no contents).

Each email queued again is written in its application's history, as the console's "Reenviar correo" writes
it, in the same transaction as the retry: "Reenvió el correo", by the operator's command (ACTOR), with the
email's kind and its attempts before. An email of no application (none today) leaves no event.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.engine import Connection

from registro.kernel import audit
from registro.platform.db import Database, DatabaseUnavailable
from registro.platform.db.schema import applications
from registro.platform.outbox import FailedEmail, requeue_failed

ACTOR = ("operador", "make retry-emails")  # actor_id, actor_username of the history's events


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
        with database.transaction() as conn:
            queued = requeue_failed(conn)
            _audit(conn, queued)
    except DatabaseUnavailable as exc:
        print(f"error: la base de datos no responde ({exc}); vuelva a ejecutarlo", file=sys.stderr)
        return 1
    finally:
        database.engine.dispose()
    print(f"{len(queued)} correo(s) fallido(s) de nuevo en la cola de envío; las réplicas los envían en segundos")
    return 0


def _audit(conn: Connection, queued: list[FailedEmail]) -> None:
    owned = [f for f in queued if f.account_id]
    if not owned:
        return
    statuses = dict(conn.execute(select(applications.c.account_id, applications.c.estatus)
                                 .where(applications.c.account_id.in_({f.account_id for f in owned}))).all())
    for f in owned:
        status = statuses.get(f.account_id) or ""
        event = audit.new_event(audit.RESEND, f.account_id, actor_id=ACTOR[0], actor_username=ACTOR[1],
                                details={"correo": f.kind, "intentos": f.attempts})
        audit.insert(conn, replace(event, status_before=status, status_after=status))


if __name__ == "__main__":
    sys.exit(main())
