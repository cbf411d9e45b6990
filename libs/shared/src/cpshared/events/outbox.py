"""Writing events to the transactional outbox.

Rows are inserted on the connection of the transaction that changes the state, so the
change and its events commit or roll back together; the relay publishes them later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
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


def write_events_once(conn: Connection, events: Sequence[PendingEvent]) -> list[PendingEvent]:
    """Add those of ``events`` whose id the outbox does not hold yet; returns the ones added.

    For events with deterministic ids (:func:`~cpshared.events.envelope.deterministic_event_id`):
    recording the same fact again is a no-op instead of an IntegrityError that would abort the
    caller's transaction. (A row the relay has pruned since is added again; consumers' inboxes
    count it once.)
    """
    if not events:
        return []
    keys = {event_id_bytes(e.envelope.event_id): e for e in events}
    present = set(conn.execute(sa.select(outbox.c.event_id).where(outbox.c.event_id.in_(list(keys)))).scalars())
    fresh = [event for key, event in keys.items() if key not in present]
    if fresh:
        now = utcnow()
        insert = mysql.insert(outbox).values([outbox_row(e, now) for e in fresh])
        # A concurrent writer of the same id between the read and here: keep its row.
        conn.execute(insert.on_duplicate_key_update(event_id=insert.inserted.event_id))
    return fresh
