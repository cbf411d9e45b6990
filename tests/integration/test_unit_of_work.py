"""The unit of work writes recorded events to the outbox in the transaction of the change."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cpshared.context import ActorContext, actor_var, correlation_id_var
from cpshared.db import SqlAlchemyUnitOfWork, make_session_factory
from cpshared.events.tables import outbox
from cpshared.topics import Topic
from tests.integration.backbone import ScratchDatabase, canary, effects


def outbox_rows(db: ScratchDatabase) -> list[sa.Row[tuple[object, ...]]]:
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)).all())


def test_events_commit_with_the_state_change_and_carry_their_context(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    uow = SqlAlchemyUnitOfWork(make_session_factory(scratch_db.engine))
    actor_token = actor_var.set(ActorContext(user_id=7, organization_id=3, ip="203.0.113.9", request_id="req-1"))
    cid_token = correlation_id_var.set("req-1")
    try:
        with uow:
            uow.session.execute(
                effects.insert().values(event_id="state", aggregate_id="a", aggregate_version=1, note="state change")
            )
            uow.record(canary(scratch_stream, "a", 1))
            uow.commit()
    finally:
        actor_var.reset(actor_token)
        correlation_id_var.reset(cid_token)
    [row] = outbox_rows(scratch_db)
    envelope = EventEnvelope.FromString(row.envelope)
    assert (row.topic, row.message_key, row.event_type, row.published_at) == (
        scratch_stream.name,
        "a",
        "ops.canary_emitted",
        None,
    )
    assert envelope.correlation_id == "req-1" and envelope.actor.user_id == 7 and envelope.actor.ip == "203.0.113.9"
    assert dict(row.headers)["event-type"] == "ops.canary_emitted"
    with scratch_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(effects)).scalar() == 1


def test_a_rolled_back_change_leaves_no_event(scratch_db: ScratchDatabase, scratch_stream: Topic) -> None:
    uow = SqlAlchemyUnitOfWork(make_session_factory(scratch_db.engine))
    with pytest.raises(RuntimeError), uow:
        uow.session.execute(effects.insert().values(event_id="x", aggregate_id="a", aggregate_version=1, note="n"))
        uow.record(canary(scratch_stream, "a", 1))
        raise RuntimeError("the handler failed after recording")
    with uow:  # leaving without commit rolls back too
        uow.record(canary(scratch_stream, "a", 1))
    assert outbox_rows(scratch_db) == []


def test_two_concurrent_units_of_work_each_commit_their_own_events(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    factory = make_session_factory(scratch_db.engine)
    barrier = threading.Barrier(2)

    def work(aggregate: str) -> None:
        uow = SqlAlchemyUnitOfWork(factory)
        with uow:
            uow.record(canary(scratch_stream, aggregate, 1))
            barrier.wait(timeout=10)
            uow.commit()

    threads = [threading.Thread(target=work, args=(a,)) for a in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(r.message_key for r in outbox_rows(scratch_db)) == ["a", "b"]
