"""The supervisor's figures (issue 12 §5), from the queue index and the audit trail only — never
from logs or personal data: pending by age, oldest pending, decisions per reviewer per day, median
time from submission to decision, corrections by reason, and the decisions as CSV.

Days are Mexico City calendar days (what a supervisor in Mexico means by "el 3 de marzo"): a range
is read as one query on the audit trail's time index, from the first day's local midnight to the
local midnight after the last.
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from registro.domain.documents import CORRECTION_REASONS, DOCUMENT_LABELS
from registro.kernel.audit import APPROVE, CORRECTION, DECISIONS, REJECT, AuditEvent, AuditTrail
from registro.documents.service import MEXICO_CITY as MEXICO  # the applicant's and the supervisor's calendar day
from registro.review.queue import QueueEntry, QueueIndex

AGE_BUCKETS = (("0 a 1 días", 0, 2), ("2 a 3 días", 2, 4), ("4 a 7 días", 4, 8), ("Más de 7 días", 8, None))
DECISION_LABELS = {APPROVE: "Aprobada", CORRECTION: "Corrección solicitada", REJECT: "Rechazada"}
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Figures:
    start: date
    end: date
    pending_total: int
    pending_by_age: list[tuple[str, int]]
    oldest: QueueEntry | None
    oldest_age_days: float | None
    per_reviewer_day: list[tuple[str, str, dict[str, int]]]  # (day, reviewer, {action: n})
    decisions_total: int
    median_hours_to_decision: float | None
    corrections_by_reason: list[tuple[str, int]]
    corrections_by_document: list[tuple[str, str, int]]


def _moment(iso: str) -> datetime:
    """An audit timestamp as an aware datetime (one without an offset is UTC)."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local_day(at_iso: str) -> date:
    return _moment(at_iso).astimezone(MEXICO).date()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=MEXICO)


def decisions_between(audit: AuditTrail, start: date, end: date) -> list[AuditEvent]:
    events = audit.decisions_between(_local_midnight(start), _local_midnight(end + timedelta(days=1)))
    seen: set[str] = set()
    kept = []
    for e in sorted(events, key=lambda e: e.at):
        # A decision completed after a failure may have been audited twice: count it once.
        key = f"{e.account_id}|{e.details.get('ronda', e.event_id)}|{e.action}"
        if e.action in DECISIONS and start <= local_day(e.at) <= end and key not in seen:
            seen.add(key)
            kept.append(e)
    return kept


def hours_to_decision(event: AuditEvent) -> float | None:
    submitted = event.details.get("fecha_envio")
    if not submitted:
        return None
    try:
        a, b = _moment(submitted), _moment(event.at)
    except ValueError:
        return None
    return (b - a).total_seconds() / 3600


def summarize(events: list[AuditEvent], index: QueueIndex, start: date, end: date, now: float) -> Figures:
    counts = index.age_counts(now, [(lo, hi if hi is not None else 1e9) for _, lo, hi in AGE_BUCKETS])
    oldest = index.oldest()
    oldest_age = (now - oldest.score) / 86400 if oldest else None
    per: dict[tuple[str, str], Counter] = defaultdict(Counter)
    reasons: Counter = Counter()
    by_document: Counter = Counter()
    hours = []
    for e in events:
        per[(local_day(e.at).isoformat(), e.actor_username)][e.action] += 1
        h = hours_to_decision(e)
        if h is not None:
            hours.append(h)
        if e.action == CORRECTION:
            for kind, codes in (e.reasons or {}).items():
                for code in codes:
                    reasons[CORRECTION_REASONS.get(code, code)] += 1
                    by_document[(DOCUMENT_LABELS.get(kind, kind), CORRECTION_REASONS.get(code, code))] += 1
    return Figures(
        start=start, end=end, pending_total=index.counts().total,
        pending_by_age=[(label, n) for (label, _, _), n in zip(AGE_BUCKETS, counts)],
        oldest=oldest, oldest_age_days=oldest_age,
        per_reviewer_day=[(day, who, dict(c)) for (day, who), c in sorted(per.items())],
        decisions_total=len(events),
        median_hours_to_decision=statistics.median(hours) if hours else None,
        corrections_by_reason=reasons.most_common(),
        corrections_by_document=[(d, r, n) for (d, r), n in by_document.most_common()],
    )


CSV_COLUMNS = ("fecha_decision", "revisor", "decision", "folio", "solicitud", "fecha_envio", "horas_hasta_decision",
               "motivos")


def decisions_csv(events: list[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        h = hours_to_decision(e)
        motivos = "; ".join(f"{DOCUMENT_LABELS.get(k, k)}: {', '.join(CORRECTION_REASONS.get(c, c) for c in codes)}"
                            for k, codes in (e.reasons or {}).items())
        writer.writerow([e.at, e.actor_username, DECISION_LABELS.get(e.action, e.action), e.details.get("folio", ""),
                         e.account_id, e.details.get("fecha_envio", ""), "" if h is None else f"{h:.2f}",
                         motivos])
    return out.getvalue()
