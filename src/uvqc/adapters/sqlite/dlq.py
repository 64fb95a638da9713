"""DeadLetters over the SQLite dead-letter queues (`intake-dlq`, `notify-dlq`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from uvqc.adapters.sqlite.queue import SOURCE_QUEUES, DeadRow, SqliteQueue
from uvqc.errors import UsageError
from uvqc.pipeline.ports import DeadLetter


def sample_id_of(body: str) -> str | None:
    """The sample ID named by a queued body (a result or a notification request), if any."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = data.get("sampleId") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _letter(row: DeadRow) -> DeadLetter:
    return DeadLetter(
        message_id=row.id,
        queue=row.queue,
        body=row.body,
        reason=row.reason,
        sample_id=sample_id_of(row.body),
        dead_at=None if row.dead_at is None else datetime.fromtimestamp(row.dead_at, UTC),
        receive_count=row.receive_count,
    )


class SqliteDeadLetters:
    """`uvqc dlq list|show|redrive` on the embedded runtime."""

    def __init__(self, queues: dict[str, SqliteQueue]) -> None:
        self.queues = queues

    def list(self, limit: int = 100) -> list[DeadLetter]:
        letters = [_letter(r) for q in self.queues.values() for r in q.dead_letters(limit)]
        letters.sort(key=lambda d: d.dead_at or datetime.min.replace(tzinfo=UTC))
        return letters[:limit]

    def show(self, message_id: str) -> DeadLetter | None:
        for q in self.queues.values():
            row = q.dead_letter_by_id(message_id)
            if row is not None:
                return _letter(row)
        return None

    def redrive(self, queue: str | None = None) -> int:
        if queue is not None and queue not in self.queues:
            raise UsageError(f"unknown queue {queue!r}: choose one of {', '.join(SOURCE_QUEUES)}")
        names = [queue] if queue is not None else list(self.queues)
        return sum(self.queues[n].redrive() for n in names)
