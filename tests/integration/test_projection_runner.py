"""The projection runner on the real MariaDB: one transaction per batch, inbox, dead letters, redrive."""

from __future__ import annotations

import sqlalchemy as sa

from cpshared.events.envelope import PendingEvent
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import dead_letters, inbox, outbox
from cpshared.topics import Topic
from tests.integration.backbone import ScratchDatabase, canary, effect_counts, make_projection


def as_record(event: PendingEvent, offset: int) -> RawRecord:
    return RawRecord(
        topic=event.topic.name,
        partition=0,
        offset=offset,
        key=event.key,
        value=event.envelope.SerializeToString(),
        headers=event.headers(),
    )


def test_a_batch_is_applied_once_and_a_redelivered_batch_is_skipped(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    runner = ProjectionRunner(scratch_db.engine, make_projection("counter", scratch_stream))
    records = [as_record(canary(scratch_stream, "a", v), v) for v in range(1, 6)]
    first = runner.apply_batch(records)
    again = runner.apply_batch(records + records[:2])
    assert (first.applied, again.applied, again.duplicates) == (5, 0, 7)
    assert effect_counts(scratch_db.engine) == (5, 5)
    with scratch_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar() == 5


def test_an_event_of_a_type_without_handler_is_ignored(scratch_db: ScratchDatabase, scratch_stream: Topic) -> None:
    runner = ProjectionRunner(scratch_db.engine, make_projection("counter", scratch_stream))
    record = as_record(canary(scratch_stream, "a", 1), 1)
    foreign = RawRecord(record.topic, 0, 2, b"a", b"junk", headers=[("event-type", b"server.created")])
    result = runner.apply_batch([record, foreign])
    assert (result.applied, result.ignored) == (1, 1)


def test_a_poison_event_is_dead_lettered_and_the_rest_applied_then_redriven_once(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    projection = make_projection("counter", scratch_stream, poison_note="poison")
    runner = ProjectionRunner(scratch_db.engine, projection, retry_backoff=0.01)
    events = [
        canary(scratch_stream, "a", 1),
        canary(scratch_stream, "a", 2, note="poison"),
        canary(scratch_stream, "b", 1),
    ]
    result = runner.apply_batch([as_record(e, i) for i, e in enumerate(events)])
    assert (result.applied, result.dead_lettered) == (2, 1)
    assert effect_counts(scratch_db.engine) == (2, 2)
    with scratch_db.engine.connect() as conn:
        letter = conn.execute(sa.select(dead_letters)).one()
        dlq_record = conn.execute(sa.select(outbox).where(outbox.c.topic == f"{scratch_stream.name}.dlq")).one()
    assert letter.status == "pending" and letter.attempts == 3 and "is poison" in letter.error
    assert dict(dlq_record.headers)["dlq-consumer"] == "counter"

    # Redelivery of the poison event does not retry it again: it waits for the operator.
    assert runner.apply_batch([as_record(events[1], 1)]).duplicates == 1

    projection.poison_note = None  # type: ignore[attr-defined]  # the fix is deployed
    assert runner.redrive(letter.id) == events[1].envelope.event_id
    assert effect_counts(scratch_db.engine) == (3, 3)
    try:
        runner.redrive(letter.id)
    except ValueError as exc:
        assert "redriven" in str(exc)
    else:
        raise AssertionError("a second redrive must be refused")
    assert effect_counts(scratch_db.engine) == (3, 3)
    assert runner.apply_batch([as_record(events[1], 1)]).duplicates == 1
