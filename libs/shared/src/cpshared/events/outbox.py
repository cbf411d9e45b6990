"""Writing events to the transactional outbox.

Rows are inserted on the connection of the transaction that changes the state, so the
change and its events commit or roll back together; the relay publishes them later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from cpshared.clock import utcnow
from cpshared.events.envelope import PendingEvent, event_id_bytes
from cpshared.events.tables import outbox


def outbox_row(event: PendingEvent, created_at: Any = None) -> dict[str, Any]:
    return {
        "event_id": event_id_bytes(event.envelope.event_id),
        "topic": event.topic.name,
        "message_key": event.envelope.aggregate_id,
        "event_type": event.envelope.event_type,
        "headers": [(k, v.decode()) for k, v in event.headers()],
        "envelope": event.envelope.SerializeToString(),
        "created_at": created_at or utcnow(),
    }


def write_outbox_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(outbox.insert(), list(rows))


def write_events(conn: Connection, events: Sequence[PendingEvent]) -> None:
    """Add ``events`` to the outbox inside the caller's transaction (one multi-row INSERT)."""
    now = utcnow()
    write_outbox_rows(conn, [outbox_row(e, now) for e in events])
