"""The outbox relay on the real MariaDB and Kafka: nothing lost, nothing applied twice, in order.

Downstream, each test reads its scratch stream from the beginning with a plain aiokafka
consumer and applies it with the real ProjectionRunner, so "exactly one effect per event"
is checked the way a service would see it (a relay's duplicates are removed by the inbox).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine

from cloudctl.infra.kafka import Kafka
from cloudctl.paths import LocalPaths
from cpshared.events.envelope import PendingEvent, event_id_bytes, parse_envelope
from cpshared.events.outbox import write_events
from cpshared.events.projection import BatchResult, ProjectionRunner, RawRecord
from cpshared.events.relay import OutboxRelay
from cpshared.events.tables import outbox
from cpshared.topics import Topic
from tests.integration.backbone import (
    KAFKA,
    ScratchDatabase,
    canary,
    effect_counts,
    make_projection,
    record_canaries,
    versions_in_apply_order,
)

ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------
def unpublished(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
        )


def outbox_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one())


async def eventually(check: Callable[[], bool], within: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(every)


async def drained(engine: Engine, within: float = 60.0) -> None:
    await eventually(lambda: unpublished(engine) == 0, within, "the relay published the whole outbox", every=0.2)


@asynccontextmanager
async def running_relay(
    engine: Engine, name: str, **options: Any
) -> AsyncIterator[tuple[OutboxRelay, asyncio.Task[None]]]:
    """An in-process relay for the duration of the block, stopped gracefully afterwards."""
    relay = OutboxRelay(engine, KAFKA, name=name, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay, task
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def read_stream(topic: Topic) -> list[RawRecord]:
    """Every record of ``topic`` up to its current end, partition by partition, in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        by_partition: dict[int, list[RawRecord]] = {p: [] for p in range(topic.partitions)}
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for tp, batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).items():
                by_partition[tp.partition] += [
                    RawRecord(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers)) for r in batch
                ]
        return [record for p in sorted(by_partition) for record in by_partition[p]]
    finally:
        await consumer.stop()


async def stream_size(topic: Topic) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        begin, end = await consumer.beginning_offsets(partitions), await consumer.end_offsets(partitions)
        return sum(end[tp] - begin[tp] for tp in partitions)
    finally:
        await consumer.stop()


def apply_stream(engine: Engine, topic: Topic, records: list[RawRecord], batch: int = 1000) -> BatchResult:
    """Apply ``records`` with the real projection runner, as a consumer would, batch by batch."""
    runner = ProjectionRunner(engine, make_projection("canary-counter", topic))
    total = BatchResult()
    for start in range(0, len(records), batch):
        result = runner.apply_batch(records[start : start + batch])
        total.applied += result.applied
        total.duplicates += result.duplicates
        total.dead_lettered += result.dead_lettered
    return total


def assert_in_order_per_aggregate(records: list[RawRecord]) -> None:
    """In the stream, each aggregate's versions first appear as 1, 2, 3, ... (duplicates may follow)."""
    first_seen: dict[str, list[int]] = {}
    seen: set[str] = set()
    for record in records:
        envelope = parse_envelope(record.value or b"")
        if envelope.event_id in seen:
            continue
        seen.add(envelope.event_id)
        first_seen.setdefault(envelope.aggregate_id, []).append(envelope.aggregate_version)
    for aggregate, versions in first_seen.items():
        assert versions == list(range(1, len(versions) + 1)), f"{aggregate} arrived out of order: {versions[:20]}"


def assert_applied_once_in_order(engine: Engine, expected: int) -> None:
    assert effect_counts(engine) == (expected, expected)
    for aggregate, versions in versions_in_apply_order(engine).items():
        assert versions == list(range(1, len(versions) + 1)), f"{aggregate} applied out of order: {versions[:20]}"


def relay_env(db: ScratchDatabase, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")}
    return env | {
        "CP_SERVICE_NAME": "tests",
        "CP_ENVIRONMENT": "test",
        "CP_LOG_JSON": "true",
        "CP_METRICS_PORT": "0",
        "CP_DATABASE_URL": db.url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        **extra,
    }


def start_relay_process(db: ScratchDatabase, log_file: Path, **extra: str) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.relay_main"],
            cwd=ROOT,
            env=relay_env(db, **extra),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def logged(log_file: Path, event: str) -> bool:
    return log_file.exists() and f'"event": "{event}"' in log_file.read_text(errors="replace")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout)


class Writers:
    """Threads that keep committing canary events through the outbox until stopped.

    Each thread owns its aggregates, so every aggregate's versions are 1, 2, 3, ... in
    commit order, as a service's optimistic concurrency would make them.
    """

    def __init__(self, engine: Engine, topic: Topic, threads: int = 4, aggregates: int = 5, per_commit: int = 5):
        self.engine, self.topic = engine, topic
        self.aggregates, self.per_commit = aggregates, per_commit
        self.committed = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(t,), daemon=True) for t in range(threads)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _write(self, thread: int) -> None:
        versions = [0] * self.aggregates
        sequence = 0
        try:
            while not self._stop.is_set():
                events: list[PendingEvent] = []
                for _ in range(self.per_commit):
                    a = sequence % self.aggregates
                    versions[a] += 1
                    sequence += 1
                    events.append(canary(self.topic, f"w{thread}-agg-{a}", versions[a], sequence=sequence))
                with self.engine.begin() as conn:
                    write_events(conn, events)
                with self._lock:
                    self.committed += len(events)
                time.sleep(0.02)
        except BaseException as exc:
            self.errors.append(exc)


# -- the tests -------------------------------------------------------------------------------
async def test_relay_publishes_everything_in_per_aggregate_order(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    record_canaries(scratch_db.engine, scratch_stream, 20_000, aggregates=50)
    async with running_relay(scratch_db.engine, "order") as (relay, _):
        await drained(scratch_db.engine)
    assert relay.published == 20_000

    records = await read_stream(scratch_stream)
    assert len(records) == 20_000
    assert_in_order_per_aggregate(records)
    result = apply_stream(scratch_db.engine, scratch_stream, records)
    assert (result.applied, result.duplicates) == (20_000, 0)
    assert_applied_once_in_order(scratch_db.engine, 20_000)
    assert all(len(v) == 400 for v in versions_in_apply_order(scratch_db.engine).values())


async def test_relay_killed_between_publish_and_mark_causes_no_duplicate_effect(
    scratch_db: ScratchDatabase, scratch_stream: Topic, tmp_path: Path
) -> None:
    total, batch = 3000, 500
    record_canaries(scratch_db.engine, scratch_stream, total, aggregates=20)
    log_file = tmp_path / "relay.log"

    # Dies (os._exit) right after Kafka acknowledged the 2nd batch, before marking it.
    dying = start_relay_process(
        scratch_db, log_file, CP_RELAY_BATCH_SIZE=str(batch), CP_FAULT_RELAY_EXIT_AFTER_PUBLISH="2"
    )
    assert await asyncio.to_thread(dying.wait, 60) == 137, log_file.read_text()
    assert logged(log_file, "relay_fault_injected_exit")
    assert await stream_size(scratch_stream) == 2 * batch  # both batches are in Kafka ...
    assert unpublished(scratch_db.engine) == total - batch  # ... but only the first is marked

    restarted = start_relay_process(scratch_db, log_file, CP_RELAY_BATCH_SIZE=str(batch))
    try:
        await drained(scratch_db.engine)
    finally:
        assert await asyncio.to_thread(stop_process, restarted) == 0, log_file.read_text()

    records = await read_stream(scratch_stream)
    assert len(records) == total + batch  # the 2nd batch was published twice
    assert_in_order_per_aggregate(records)
    result = apply_stream(scratch_db.engine, scratch_stream, records)
    assert (result.applied, result.duplicates) == (total, batch)
    assert_applied_once_in_order(scratch_db.engine, total)


async def test_broker_outage_of_30_seconds_loses_nothing_and_keeps_order(
    scratch_db: ScratchDatabase, scratch_stream: Topic, paths: LocalPaths
) -> None:
    kafka = Kafka(paths.root)
    engine = scratch_db.engine
    async with running_relay(engine, "outage", gauge_interval=0.5) as (relay, task):
        with Writers(engine, scratch_stream) as writers:
            await eventually(lambda: relay.published > 0, 30, "the relay publishes before the outage")
            try:
                await asyncio.to_thread(kafka.stop)
                down_at, committed_at_stop = time.monotonic(), writers.committed
                while time.monotonic() - down_at < 30:
                    await asyncio.sleep(1)
                    assert not writers.errors, writers.errors
                    assert not task.done(), "the relay gave up while the broker was down"
                committed_while_down = writers.committed - committed_at_stop
                backlog_seen = REGISTRY.get_sample_value("outbox_backlog", {"relay": "outage"}) or 0
            finally:
                await asyncio.to_thread(kafka.up)
            await asyncio.sleep(2)  # writers keep going while the relay catches up
        assert not writers.errors, writers.errors
        await drained(engine, within=120)

    assert committed_while_down > 1000, "the writers were held up by the outage"
    assert backlog_seen > 0, "the backlog gauge did not show the unpublished rows"
    records = await read_stream(scratch_stream)
    assert len(records) >= writers.committed
    assert_in_order_per_aggregate(records)
    result = apply_stream(engine, scratch_stream, records)
    assert result.applied == writers.committed
    assert_applied_once_in_order(engine, writers.committed)


async def test_transactions_committing_out_of_id_order_lose_no_event(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    engine = scratch_db.engine
    early, late = canary(scratch_stream, "slow-aggregate", 1), canary(scratch_stream, "fast-aggregate", 1)
    async with running_relay(engine, "commit-order", idle_poll_interval=0.1) as (relay, _):
        with engine.connect() as conn_a:
            transaction_a = conn_a.begin()
            write_events(conn_a, [early])  # gets the lower id, but is not committed yet
            with engine.begin() as conn_b:
                write_events(conn_b, [late])  # higher id, committed first
            await eventually(lambda: relay.published == 1, 20, "the relay published the committed row")
            await asyncio.sleep(1)  # several more rounds: the relay must not have moved past A for good
            transaction_a.commit()
        await drained(engine, within=20)

    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(outbox.c.event_id, outbox.c.id)).all())
    assert ids[event_id_bytes(early.envelope.event_id)] < ids[event_id_bytes(late.envelope.event_id)]
    records = await read_stream(scratch_stream)
    published = [parse_envelope(r.value or b"").event_id for r in records]
    assert sorted(published) == sorted([early.envelope.event_id, late.envelope.event_id])


async def test_a_standby_relay_takes_over_when_the_leader_dies(
    scratch_db: ScratchDatabase, scratch_stream: Topic, tmp_path: Path
) -> None:
    engine, total = scratch_db.engine, 20_000
    leader_log, standby_log = tmp_path / "leader.log", tmp_path / "standby.log"
    leader = start_relay_process(scratch_db, leader_log, CP_RELAY_BATCH_SIZE="100")
    standby: subprocess.Popen[bytes] | None = None
    try:
        await eventually(lambda: logged(leader_log, "relay_leading"), 30, "the first relay leads")
        standby = start_relay_process(scratch_db, standby_log, CP_RELAY_BATCH_SIZE="100")
        await eventually(lambda: logged(standby_log, "relay_standby"), 30, "the second relay stands by")

        record_canaries(engine, scratch_stream, total, aggregates=20)
        await eventually(lambda: unpublished(engine) < total - 1000, 30, "the leader publishes", every=0.02)
        assert not logged(standby_log, "relay_leading")
        leader.kill()  # SIGKILL, mid-stream: the server releases its lock with its connection
        await asyncio.to_thread(leader.wait, 10)
        left_by_the_leader = unpublished(engine)

        await eventually(lambda: logged(standby_log, "relay_leading"), 30, "the standby takes over")
        await asyncio.to_thread(record_canaries_more, engine, scratch_stream)
        await drained(engine)
    finally:
        leader.kill()
        if standby is not None:
            assert await asyncio.to_thread(stop_process, standby) == 0, standby_log.read_text()

    assert left_by_the_leader > 0, "the leader finished before it was killed: nothing was taken over"
    records = await read_stream(scratch_stream)
    assert len(records) >= total + 1000
    assert_in_order_per_aggregate(records)
    result = apply_stream(engine, scratch_stream, records)
    assert result.applied == total + 1000
    assert_applied_once_in_order(engine, total + 1000)


def record_canaries_more(engine: Engine, topic: Topic) -> None:
    """1000 more events on aggregates of their own (versions 1..50 each)."""
    events = [canary(topic, f"late-{a}", v) for v in range(1, 51) for a in range(20)]
    with engine.begin() as conn:
        write_events(conn, events)


async def test_published_rows_past_retention_are_pruned_and_unpublished_ones_never(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    engine = scratch_db.engine
    record_canaries(engine, scratch_stream, 100, aggregates=5)
    async with running_relay(engine, "prune"):
        await drained(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        oldest = conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id).limit(60)).scalars().all()
        conn.execute(outbox.update().where(outbox.c.id.in_(oldest)).values(published_at=now - timedelta(days=8)))
        write_events(conn, [canary(scratch_stream, "never-published", 1)])
        conn.execute(outbox.update().where(outbox.c.published_at.is_(None)).values(created_at=now - timedelta(days=30)))

    relay = OutboxRelay(engine, KAFKA, name="prune", prune_batch=25, published_retention=timedelta(days=7))
    assert relay.prune() == 60
    assert (outbox_size(engine), unpublished(engine)) == (41, 1)

    relay._refresh_gauges()
    assert REGISTRY.get_sample_value("outbox_backlog", {"relay": "prune"}) == 1
    age = REGISTRY.get_sample_value("outbox_oldest_unpublished_age_seconds", {"relay": "prune"}) or 0
    assert 29 * 86400 < age < 31 * 86400
