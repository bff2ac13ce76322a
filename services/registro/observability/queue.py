"""The review queue as the metrics see it: the ONE function that asks the review workflow.

Today it reads the per-process stale-while-revalidate list the console uses (`PendingCache`,
refreshed from Keycloak at most every REVISION_QUEUE_CACHE_SECONDS). When the review workflow's
Redis-backed queue index lands, swap the body of `review_queue_stats` for its exact counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class QueueStats:
    length: int
    oldest_age_s: float  # 0 when the queue is empty


def review_queue_stats(now: datetime | None = None) -> QueueStats:
    from ..container import adapters
    from ..workflow.review import load_pending

    a = adapters()
    items = a.review_cache.get(lambda: load_pending(a.identity)) if a.review_cache else load_pending(a.identity)
    return stats_of([i.submitted_at for i in items], now)


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
