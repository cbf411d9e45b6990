"""Test support for the event backbone: a scratch database, scratch topics, a counting projection.

Every test gets its own database (with the outbox, inbox and dead_letters tables and the
projection's table) and its own topics, so tests never see each other's events and never
touch the stack's real streams.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.engine import Engine

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.ops.v1 import canary_pb2
from cpshared.db import make_engine
from cpshared.events.catalog import CANARY_EMITTED
from cpshared.events.envelope import PendingEvent, ReceivedEvent, new_event
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.events.tables import metadata as event_metadata
from cpshared.topics import Topic, TopicKind

KAFKA = "127.0.0.1:9092"

projection_metadata = sa.MetaData()

# One row per applied event, deliberately WITHOUT a unique key on event_id: an event applied
# twice shows up as two rows, which is exactly what the tests look for.
effects = sa.Table(
    "canary_effects",
    projection_metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("aggregate_id", sa.String(64), nullable=False),
    sa.Column("aggregate_version", sa.BigInteger, nullable=False),
    sa.Column("note", sa.String(200), nullable=False),
    sa.Index("ix_canary_effects_event", "event_id"),
    sa.Index("ix_canary_effects_aggregate", "aggregate_id", "id"),
)


def make_projection(name: str, topic: Topic, poison_note: str | None = None) -> Projection:
    """A projection over ``topic`` that writes one effect row per canary event.

    An event whose note equals ``poison_note`` makes the handler fail (a poison event);
    flip ``projection.poison_note`` to None to "deploy the fix".
    """

    class CanaryCounter(Projection):
        topics = (topic,)
        tables = (effects,)

        def __init__(self) -> None:
            self.poison_note = poison_note

        @handles(CANARY_EMITTED.event_type)
        def on_canary(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
            payload: Any = event.payload
            if self.poison_note is not None and payload.note == self.poison_note:
                raise ValueError(f"cannot apply canary {payload.sequence}: note {payload.note!r} is poison")
            ctx.insert(
                "canary_effects",
                {
                    "event_id": event.event_id,
                    "aggregate_id": event.envelope.aggregate_id,
                    "aggregate_version": event.envelope.aggregate_version,
                    "note": payload.note,
                },
            )

    CanaryCounter.name = name
    return CanaryCounter()


@dataclass
class ScratchDatabase:
    name: str
    url: str
    engine: Engine


def scratch_database(paths: LocalPaths) -> Iterator[ScratchDatabase]:
    """A fresh database with the backbone's tables and the test projection's table."""
    with MariaDB(paths.root).scratch_database("cp_test") as url:
        engine = make_engine(url, pool_size=10)
        event_metadata.create_all(engine)
        projection_metadata.create_all(engine)
        try:
            yield ScratchDatabase(name=sa.engine.make_url(url).database or "", url=url, engine=engine)
        finally:
            engine.dispose()


KEEP = {"retention.ms": "-1"}


def scratch_topic(partitions: int = 3) -> Iterator[Topic]:
    """A fresh stream and its dead-letter topic on the real broker, deleted afterwards."""
    topic = Topic(name=f"test.{uuid.uuid4().hex[:10]}.events", kind=TopicKind.DOMAIN, partitions=partitions)

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    # kept forever, as the platform's domain streams are (retention_ms -1): under
                    # make test-calendar records carry a faked past time, and the broker's default
                    # retention (7 days) would delete them at its next check, mid-test
                    NewTopic(topic.name, num_partitions=partitions, replication_factor=1, topic_configs=KEEP),
                    NewTopic(f"{topic.name}.dlq", num_partitions=1, replication_factor=1, topic_configs=KEEP),
                ]
            )
        finally:
            await admin.close()

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            await admin.delete_topics([topic.name, f"{topic.name}.dlq"])
        finally:
            await admin.close()

    asyncio.run(create())
    try:
        yield topic
    finally:
        asyncio.run(delete())


def canary(topic: Topic, aggregate: str, version: int, note: str = "ok", sequence: int = 0) -> PendingEvent:
    return new_event(
        CANARY_EMITTED,
        producer="tests",
        aggregate_id=aggregate,
        aggregate_version=version,
        payload=canary_pb2.CanaryEmitted(note=note, sequence=sequence, run_size=0, run_id="tests"),
        topic=topic,
    )


def record_canaries(engine: Engine, topic: Topic, count: int, aggregates: int = 50, batch: int = 1000) -> None:
    """Commit ``count`` canary events through the outbox, ``aggregates`` interleaved aggregates."""
    versions = [0] * aggregates
    pending: list[PendingEvent] = []
    for i in range(count):
        a = i % aggregates
        versions[a] += 1
        pending.append(canary(topic, f"agg-{a}", versions[a], sequence=i + 1))
        if len(pending) >= batch:
            with engine.begin() as conn:
                write_events(conn, pending)
            pending = []
    if pending:
        with engine.begin() as conn:
            write_events(conn, pending)


def effect_counts(engine: Engine) -> tuple[int, int]:
    """(rows, distinct events) in the effects table: equal means nothing was applied twice."""
    with engine.connect() as conn:
        rows, distinct = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(effects.c.event_id)))).one()
    return int(rows), int(distinct)


def versions_in_apply_order(engine: Engine) -> dict[str, list[int]]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.select(effects.c.aggregate_id, effects.c.aggregate_version).order_by(effects.c.id)
        ).all()
    order: dict[str, list[int]] = {}
    for aggregate, version in result:
        order.setdefault(aggregate, []).append(int(version))
    return order


def canary_counter_from_env() -> Projection:
    """The canary counter for a consumer SUBPROCESS, configured by the test through its env.

    ``python -m cpshared.events.consumer_main tests.integration.backbone:canary_counter_from_env``
    with CP_TEST_TOPIC (the scratch stream), CP_TEST_CONSUMER (the consumer name, default
    ``canary-counter``) and optionally CP_TEST_POISON_NOTE (the note that makes it fail).
    """
    import os

    topic = Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3)
    return make_projection(
        os.environ.get("CP_TEST_CONSUMER", "canary-counter"), topic, os.environ.get("CP_TEST_POISON_NOTE") or None
    )


# -- replay tests and bench: streams filled straight through aiokafka ----------------------

# Imported here, not at the top: this file is appended to by several people at once.
from collections.abc import Iterable  # noqa: E402

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from cpshared.events.projection import RawRecord  # noqa: E402


def canary_events(topic: Topic, count: int, aggregates: int = 50, note: str = "ok") -> Iterator[PendingEvent]:
    """``count`` canary events over ``aggregates`` interleaved aggregates, each numbered 1, 2, ... in order."""
    versions = [0] * aggregates
    for i in range(count):
        a = i % aggregates
        versions[a] += 1
        yield canary(topic, f"agg-{a}", versions[a], note=note, sequence=i + 1)


async def produce_events(
    topic: Topic, events: Iterable[PendingEvent], *, bootstrap: str = KAFKA, batches_in_flight: int = 64
) -> int:
    """Publish ``events`` to ``topic`` straight (no outbox), fast; returns how many.

    Partitioned by key as the relay's producer does (murmur2), but appended to record
    batches by hand and sent many batches at a time: about ten times faster than one
    ``send`` per record, which matters for a million events.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=900_000)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic.name))
        open_batches: dict[int, Any] = {}
        sending: list[asyncio.Future[Any]] = []
        count = 0

        async def send(partition: int) -> None:
            sending.append(await producer.send_batch(open_batches.pop(partition), topic.name, partition=partition))
            if len(sending) >= batches_in_flight:
                await asyncio.gather(*sending)
                sending.clear()

        for event in events:
            key = event.key
            partition = DefaultPartitioner()(key, partitions, partitions)
            value, headers = event.envelope.SerializeToString(), event.headers()
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                await send(partition)
                batch = open_batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
            count += 1
        for partition in list(open_batches):
            await send(partition)
        await asyncio.gather(*sending)
        return count
    finally:
        await producer.stop()


async def read_topic(topic: Topic, *, bootstrap: str = KAFKA) -> list[RawRecord]:
    """Every record of ``topic`` up to its end now, as a consumer without a group would get them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[RawRecord] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += [RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in batch]
        return records
    finally:
        await consumer.stop()


def _hosted_counter(letter: str) -> Projection:
    """One of four canary counters a consumer HOST runs at once (``consumer_main --all``): each
    its own consumer group ``host-<letter>`` over CP_TEST_TOPIC, each on its own database."""
    import os

    topic = Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3)
    return make_projection(f"host-{letter}-{topic.name}", topic)


def hosted_counter_a() -> Projection:
    return _hosted_counter("a")


def hosted_counter_b() -> Projection:
    return _hosted_counter("b")


def hosted_counter_c() -> Projection:
    return _hosted_counter("c")


def hosted_counter_d() -> Projection:
    return _hosted_counter("d")
