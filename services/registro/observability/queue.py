"""The review queue as the metrics see it: the ONE function that asks the review workflow.

It reads the queue's indexed queries (review/queue.py): an exact count and the oldest pending
application, two index reads whatever the queue's length, the same answer from every replica.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class QueueStats:
    length: int
    oldest_age_s: float  # 0 when the queue is empty


def review_queue_stats(now: datetime | None = None) -> QueueStats:
    from registro.container import adapters
    index = adapters().queue_index
    total = index.counts().total
    oldest = index.oldest()
    age = stats_of([oldest.submitted_at], now).oldest_age_s if oldest else 0.0
    return QueueStats(length=total, oldest_age_s=age)


def stats_of(submitted_at: list[str], now: datetime | None = None) -> QueueStats:
    now = now or datetime.now(timezone.utc)
    oldest = 0.0
    for value in submitted_at:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        oldest = max(oldest, (now - when).total_seconds())
    return QueueStats(length=len(submitted_at), oldest_age_s=oldest)
