"""Operating on dead letters: what a projection could not apply, kept until someone decides.

A dead letter is a row of the consuming service's ``dead_letters`` table (its twin on the
stream's ``.dlq`` topic is for alerting and for other tools). An operator lists and reads
them, fixes the cause, and then either redrives one -- applies it now, exactly once -- or
discards it with a reason. Nothing here deletes a row: the table is also the record of what
went wrong and what was done about it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from google.protobuf.json_format import MessageToDict
from sqlalchemy.engine import Engine, Row

from cpshared.clock import utcnow
from cpshared.events.envelope import parse_envelope
from cpshared.events.projection import Projection, ProjectionRunner
from cpshared.events.tables import dead_letters

Status = Literal["pending", "redriven", "discarded"]
STATUSES: tuple[Status, ...] = ("pending", "redriven", "discarded")


class DeadLetterNotFound(LookupError):
    pass


class DeadLetterNotPending(ValueError):
    """Only a pending dead letter can be redriven or discarded."""


class WrongProjection(ValueError):
    """A dead letter is redriven by the projection (consumer) that failed it, no other."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    message_key: str
    error: str
    attempts: int
    status: str
    failed_at: datetime
    resolved_at: datetime | None
    resolution: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> DeadLetter:
        return cls(
            id=int(row.id),
            consumer=row.consumer,
            event_id=str(uuid.UUID(bytes=bytes(row.event_id))),
            event_type=row.event_type,
            topic=row.topic,
            partition=int(row.partition),
            offset=int(row.offset),
            message_key=row.message_key,
            error=row.error,
            attempts=int(row.attempts),
            status=row.status,
            failed_at=row.failed_at,
            resolved_at=row.resolved_at,
            resolution=row.resolution,
        )


@dataclass(frozen=True)
class DeadLetterDetail:
    letter: DeadLetter
    envelope: dict[str, Any] | None
    """The envelope as JSON-like data (payload included when its type is known), or None."""
    envelope_error: str | None
    """Why the envelope could not be decoded, when it could not."""
    envelope_size: int


def list_dead_letters(
    engine: Engine, status: Status | None = "pending", consumer: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters, oldest first; ``status=None`` lists them all."""
    columns = [c for c in dead_letters.c if c.name != "envelope"]
    query = sa.select(*columns).order_by(dead_letters.c.id).limit(limit)
    if status is not None:
        query = query.where(dead_letters.c.status == status)
    if consumer is not None:
        query = query.where(dead_letters.c.consumer == consumer)
    with engine.connect() as conn:
        return [DeadLetter.from_row(row) for row in conn.execute(query)]


def get_dead_letter(engine: Engine, dead_letter_id: int) -> DeadLetterDetail:
    with engine.connect() as conn:
        row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == dead_letter_id)).one_or_none()
    if row is None:
        raise DeadLetterNotFound(f"no dead letter {dead_letter_id}")
    raw = bytes(row.envelope)
    envelope: dict[str, Any] | None = None
    error: str | None = None
    try:
        parsed = parse_envelope(raw)
        try:
            envelope = MessageToDict(parsed, preserving_proto_field_name=True)
        except (TypeError, KeyError) as exc:
            # The payload's message type is unknown to this code: show the envelope without it.
            parsed.ClearField("payload")
            envelope = MessageToDict(parsed, preserving_proto_field_name=True)
            error = f"payload not decoded: {exc}"
    except Exception as exc:
        error = f"envelope not decoded: {exc}"
    return DeadLetterDetail(DeadLetter.from_row(row), envelope, error, len(raw))


def redrive(engine: Engine, projection: Projection, dead_letter_id: int) -> str:
    """Apply a pending dead letter with ``projection`` (the fixed code) exactly once; its event id.

    The effect, the inbox row and the status change commit together: a redrive that fails
    changes nothing, a second redrive is refused, and a later redelivery of the event from
    Kafka is skipped by the inbox.
    """
    letter = _pending(engine, dead_letter_id)
    if letter.consumer != projection.name:
        raise WrongProjection(
            f"dead letter {dead_letter_id} belongs to consumer {letter.consumer!r}, not {projection.name!r}"
        )
    try:
        return ProjectionRunner(engine, projection).redrive(dead_letter_id)
    except LookupError as exc:
        raise DeadLetterNotFound(str(exc)) from exc


def discard(engine: Engine, dead_letter_id: int, reason: str) -> None:
    """Give up on a pending dead letter, saying why; the event stays unapplied."""
    if not reason.strip():
        raise ValueError("say why the event is discarded")
    with engine.begin() as conn:
        done = conn.execute(
            dead_letters.update()
            .where(dead_letters.c.id == dead_letter_id, dead_letters.c.status == "pending")
            .values(status="discarded", resolved_at=utcnow(), resolution=f"discarded: {reason.strip()}")
        ).rowcount
    if not done:
        _pending(engine, dead_letter_id)  # raises the precise reason
        raise DeadLetterNotPending(f"dead letter {dead_letter_id} changed while it was being discarded")


def _pending(engine: Engine, dead_letter_id: int) -> DeadLetter:
    columns = [c for c in dead_letters.c if c.name != "envelope"]
    with engine.connect() as conn:
        row = conn.execute(sa.select(*columns).where(dead_letters.c.id == dead_letter_id)).one_or_none()
    if row is None:
        raise DeadLetterNotFound(f"no dead letter {dead_letter_id}")
    letter = DeadLetter.from_row(row)
    if letter.status != "pending":
        raise DeadLetterNotPending(f"dead letter {dead_letter_id} is {letter.status}, not pending")
    return letter
