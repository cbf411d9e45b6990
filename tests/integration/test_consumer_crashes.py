"""The projection consumer process on the real Kafka and MariaDB: crashes, poison events, redrive.

The consumer runs as a subprocess (``python -m cpshared.events.consumer_main``) so it can
be killed with SIGKILL, the way a node or the OOM killer ends it: no finally, no flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cloudctl import dlq_cli
from cloudctl.paths import LocalPaths
from cpshared.events.envelope import PendingEvent
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import dead_letters, inbox, outbox
from cpshared.topics import Topic
from tests.integration.backbone import (
    KAFKA,
    ScratchDatabase,
    canary,
    effect_counts,
    effects,
    make_projection,
    scratch_database,
    versions_in_apply_order,
)

ROOT = Path(__file__).resolve().parents[2]
FACTORY = "tests.integration.backbone:canary_counter_from_env"


# -- helpers ----------------------------------------------------------------------------------
def canaries(topic: Topic, count: int, aggregates: int, poison_at: int | None = None) -> list[PendingEvent]:
    """``count`` canary events over ``aggregates`` interleaved aggregates, versions 1, 2, 3 … each."""
    versions = [0] * aggregates
    events = []
    for i in range(count):
        a = i % aggregates
        versions[a] += 1
        note = "poison" if i == poison_at else "ok"
        events.append(canary(topic, f"agg-{a}", versions[a], note=note, sequence=i + 1))
    return events


async def produce(events: Sequence[PendingEvent], chunk: int = 0, pause: float = 0.0) -> None:
    """Publish ``events`` as the relay would (key, envelope, the outbox's headers); send all, then await.

    With ``chunk`` the events go out ``chunk`` at a time, ``pause`` seconds apart: a stream that
    keeps flowing while the consumer is killed.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=KAFKA, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        step = chunk or len(events)
        for start in range(0, len(events), step):
            futures = [
                await producer.send(e.topic.name, e.envelope.SerializeToString(), key=e.key, headers=e.headers())
                for e in events[start : start + step]
            ]
            await asyncio.gather(*futures)
            if pause:
                await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def committed_offsets(group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


class ConsumerProcess:
    """The consumer subprocess; every run appends its JSON log lines to one file."""

    def __init__(self, db: ScratchDatabase, topic: Topic, log_file: Path, **env: str) -> None:
        self.log_file = log_file
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
            "CP_SERVICE_NAME": "consumer-test",
            "CP_ENVIRONMENT": "test",
            "CP_METRICS_PORT": "0",
            "CP_LOG_JSON": "true",
            "CP_DATABASE_URL": db.url,
            "CP_KAFKA_BOOTSTRAP": KAFKA,
            "CP_TEST_TOPIC": topic.name,
            "CP_TEST_CONSUMER": f"counter-{topic.name}",
            "CP_CONSUMER_COMMIT_INTERVAL": "1.0",
        }
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def name(self) -> str:
        return self.env["CP_TEST_CONSUMER"]

    def start(self, **env: str) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY],
                cwd=ROOT,
                env=self.env | env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, the graceful stop; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def ensure_stopped(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)

    def log_events(self, event: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            if f'"{event}"' in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == event:
                    found.append(record)
        return found


@pytest.fixture
def consumer_log(tmp_path: Path) -> Path:
    return tmp_path / "consumer.log"


# -- the tests --------------------------------------------------------------------------------
def test_consumer_killed_ten_times_while_100000_events_flow_applies_each_exactly_once(
    scratch_db: ScratchDatabase, scratch_stream: Topic, consumer_log: Path
) -> None:
    total, aggregates, kills_wanted = 100_000, 64, 10
    events = canaries(scratch_stream, total, aggregates)
    # Static membership: a restarted consumer takes its partitions back at once instead of
    # waiting for the killed member's session to time out.
    consumer = ConsumerProcess(scratch_db, scratch_stream, consumer_log, CP_CONSUMER_INSTANCE_ID="crash-test")
    rng = random.Random()

    # The stream keeps flowing for the whole test: 2,000 events every 0.6 s (~30 s in all).
    producer_error: list[BaseException] = []

    def feed() -> None:
        try:
            asyncio.run(produce(events, chunk=2000, pause=0.6))
        except BaseException as exc:  # reported by the main thread
            producer_error.append(exc)

    producer = threading.Thread(target=feed, name="producer", daemon=True)
    started = time.monotonic()
    producer.start()
    kills: list[dict[str, int]] = []
    try:
        while len(kills) < kills_wanted:
            consumer.start()
            before = count(scratch_db.engine, inbox)
            # Kill it once it is applying, at a random moment: mid-batch, between the database
            # commit and the offset commit, or while idle.
            wait_until(lambda: count(scratch_db.engine, inbox) > before, 60, "the restarted consumer to apply events")  # noqa: B023
            time.sleep(rng.uniform(0.05, 1.5))
            consumer.kill()
            applied = count(scratch_db.engine, inbox)
            committed = sum(asyncio.run(committed_offsets(consumer.name, scratch_stream.name)).values())
            kills.append({"applied": applied, "committed": committed, "not_committed": applied - committed})
        producer.join(120)
        assert not producer.is_alive() and not producer_error, producer_error
        consumer.start()
        wait_until(lambda: count(scratch_db.engine, inbox) >= total, 150, "every event to be applied", poll=0.5)
        assert consumer.stop() == 0
    finally:
        consumer.ensure_stopped()
    elapsed = time.monotonic() - started

    duplicates = sum(int(r["duplicates"]) for r in consumer.log_events("duplicates_skipped"))
    print(
        f"\n{len(kills)} SIGKILLs in {elapsed:.0f}s; at each kill (applied, committed to Kafka): "
        f"{[(k['applied'], k['committed']) for k in kills]}; redelivered and skipped by the inbox: {duplicates}"
    )
    # Nothing lost, nothing applied twice.
    assert effect_counts(scratch_db.engine) == (total, total)
    assert count(scratch_db.engine, inbox) == total
    # Each aggregate's events were applied in order, each version once.
    order = versions_in_apply_order(scratch_db.engine)
    assert len(order) == aggregates
    for aggregate, versions in order.items():
        assert versions == list(range(1, len(versions) + 1)), f"{aggregate} applied out of order"
    # The test is not vacuous: kills caught events applied in the database whose offsets were
    # not committed yet, Kafka delivered them again, and the inbox skipped them.
    assert any(k["not_committed"] > 0 for k in kills), kills
    assert duplicates > 0
    # Offsets end where the stream ends.
    assert sum(asyncio.run(committed_offsets(consumer.name, scratch_stream.name)).values()) == total


def test_members_joining_and_leaving_mid_stream_hand_partitions_over_without_losing_or_repeating_an_event(
    scratch_db: ScratchDatabase, scratch_stream: Topic, tmp_path: Path
) -> None:
    """Two members of one group while 40,000 events flow: the second joins (a rebalance), the
    first stops gracefully (another), a third joins late. Each revocation finishes the batch in
    flight and commits its offsets before the partitions move, so every event is applied once,
    each aggregate in order, and the offsets end where the stream ends."""
    total, aggregates = 40_000, 48
    events = canaries(scratch_stream, total, aggregates)
    members = [
        ConsumerProcess(scratch_db, scratch_stream, tmp_path / f"member-{n}.log", CP_CONSUMER_MAX_BATCH="500")
        for n in range(3)
    ]
    producer_error: list[BaseException] = []

    def feed() -> None:
        try:
            asyncio.run(produce(events, chunk=2000, pause=0.3))
        except BaseException as exc:  # reported by the main thread
            producer_error.append(exc)

    producer = threading.Thread(target=feed, name="producer", daemon=True)
    first, second, third = members
    try:
        first.start()
        producer.start()
        wait_until(lambda: count(scratch_db.engine, inbox) > 2_000, 60, "the first member to apply events")
        second.start()
        wait_until(lambda: bool(second.log_events("partitions_assigned")), 60, "the second member to get partitions")
        wait_until(lambda: count(scratch_db.engine, inbox) > 15_000, 90, "both members to apply events")
        assert first.stop() == 0  # leaves the group: its partitions move to the second
        third.start()
        producer.join(120)
        assert not producer.is_alive() and not producer_error, producer_error
        wait_until(lambda: count(scratch_db.engine, inbox) >= total, 150, "every event to be applied", poll=0.5)
        assert second.stop() == 0 and third.stop() == 0
    finally:
        for member in members:
            member.ensure_stopped()

    assert first.log_events("partitions_revoked") and second.log_events("partitions_revoked")
    applied_by = [
        sum(int(r["applied"]) for r in m.log_events("consumer_progress")[-1:])
        if m.log_events("consumer_progress")
        else 0
        for m in members
    ]
    duplicates = sum(int(r["duplicates"]) for m in members for r in m.log_events("duplicates_skipped"))
    print(f"\napplied by each member: {applied_by}; redelivered and skipped by the inbox: {duplicates}")
    assert applied_by[0] > 0 and applied_by[1] > 0
    assert effect_counts(scratch_db.engine) == (total, total)
    assert count(scratch_db.engine, inbox) == total
    order = versions_in_apply_order(scratch_db.engine)
    assert len(order) == aggregates
    for aggregate, versions in order.items():
        assert versions == list(range(1, len(versions) + 1)), f"{aggregate} applied out of order"
    assert sum(asyncio.run(committed_offsets(first.name, scratch_stream.name)).values()) == total


def test_the_consumer_host_killed_while_four_projections_run_applies_each_event_once_in_each(
    paths: LocalPaths, scratch_stream: Topic, tmp_path: Path
) -> None:
    """``consumer_main --all`` with four projections, each its own consumer group and database,
    SIGKILLed four times while 30,000 events flow: each projection ends with every event
    exactly once, each aggregate in order, and its offsets where the stream ends."""
    total, aggregates, kills_wanted = 30_000, 32, 4
    events = canaries(scratch_stream, total, aggregates)
    letters = "abcd"
    with contextlib.ExitStack() as stack:
        databases = {
            letter: stack.enter_context(contextlib.contextmanager(scratch_database)(paths)) for letter in letters
        }
        consumers = {
            letter: {"projection": f"tests.integration.backbone:hosted_counter_{letter}", "database_url": db.url}
            for letter, db in databases.items()
        }
        host_log = tmp_path / "host.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
            "CP_SERVICE_NAME": "consumers",
            "CP_ENVIRONMENT": "test",
            "CP_METRICS_PORT": "0",
            "CP_LOG_JSON": "true",
            "CP_KAFKA_BOOTSTRAP": KAFKA,
            "CP_TEST_TOPIC": scratch_stream.name,
            "CP_CONSUMERS": json.dumps(consumers),
            "CP_CONSUMER_INSTANCE_ID": "host-kill-test",
        }
        host: subprocess.Popen[bytes] | None = None

        def start() -> subprocess.Popen[bytes]:
            with host_log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "cpshared.events.consumer_main", "--all"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )

        def applied() -> list[int]:
            return [count(db.engine, inbox) for db in databases.values()]

        producer_error: list[BaseException] = []

        def feed() -> None:
            try:
                asyncio.run(produce(events, chunk=2000, pause=0.5))
            except BaseException as exc:  # reported by the main thread
                producer_error.append(exc)

        producer = threading.Thread(target=feed, name="producer", daemon=True)
        producer.start()
        rng = random.Random()
        try:
            for _ in range(kills_wanted):
                host = start()
                before = sum(applied())
                wait_until(lambda: sum(applied()) > before, 60, "the host to apply events")  # noqa: B023
                time.sleep(rng.uniform(0.1, 1.5))
                host.send_signal(signal.SIGKILL)
                host.wait(10)
            producer.join(120)
            assert not producer.is_alive() and not producer_error, producer_error
            host = start()
            wait_until(lambda: min(applied()) >= total, 180, "every projection to apply every event", poll=0.5)
            host.send_signal(signal.SIGTERM)
            assert host.wait(30) == 0
        finally:
            if host is not None and host.poll() is None:
                host.kill()
                host.wait(10)
        for letter, db in databases.items():
            assert effect_counts(db.engine) == (total, total), letter
            order = versions_in_apply_order(db.engine)
            assert len(order) == aggregates
            for aggregate, versions in order.items():
                assert versions == list(range(1, len(versions) + 1)), f"{letter}: {aggregate} applied out of order"
            group = f"host-{letter}-{scratch_stream.name}"
            assert sum(asyncio.run(committed_offsets(group, scratch_stream.name)).values()) == total


def test_poison_event_goes_to_dead_letter_topic_and_table_and_the_stream_continues_then_redrive_applies_once(
    scratch_db: ScratchDatabase,
    scratch_stream: Topic,
    consumer_log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total, poison_at = 600, 300
    events = canaries(scratch_stream, total, aggregates=10, poison_at=poison_at)
    poison = events[poison_at]
    engine = scratch_db.engine
    metrics_port = free_port()
    consumer = ConsumerProcess(
        scratch_db,
        scratch_stream,
        consumer_log,
        CP_CONSUMER_RETRY_BACKOFF="0.05",
        CP_CONSUMER_MAX_BATCH="100",
        CP_METRICS_PORT=str(metrics_port),
    )
    cli = CliRunner(env={"COLUMNS": "250"})  # wide enough that rich does not fold ids
    db_args = ["--database-url", scratch_db.url]
    asyncio.run(produce(events))
    try:
        consumer.start(CP_TEST_POISON_NOTE="poison")
        wait_until(
            lambda: count(engine, inbox) == total - 1 and count(engine, dead_letters) == 1,
            90,
            "the poison event dead-lettered and the others applied",
        )

        # The dead letter: pending, with the error and the attempts.
        with engine.connect() as conn:
            letter = conn.execute(sa.select(dead_letters)).one()
        assert letter.status == "pending" and letter.attempts == 3
        assert "is poison" in letter.error and letter.event_type == "ops.canary_emitted"
        assert letter.consumer == consumer.name and letter.message_key == poison.envelope.aggregate_id

        # What the consumer tells Prometheus.
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        label = f'{{consumer="{consumer.name}"}}'
        assert f"consumer_events_applied_total{label} {total - 1}.0" in metrics
        assert f"consumer_events_dead_lettered_total{label} 1.0" in metrics
        assert f"consumer_batch_apply_seconds_count{label}" in metrics

        # The stream went on: every other event applied, including those after the poison.
        assert effect_counts(engine) == (total - 1, total - 1)
        with engine.connect() as conn:
            applied_ids = set(conn.execute(sa.select(effects.c.event_id)).scalars())
        assert poison.envelope.event_id not in applied_ids
        assert {e.envelope.event_id for e in events[poison_at + 1 :]} <= applied_ids

        # The dead-letter record went to the consuming database's outbox in the same
        # transaction; the relay publishes it onto <stream>.dlq.
        asyncio.run(relay_until_published(engine))
        record = asyncio.run(read_one(f"{scratch_stream.name}.dlq"))
        headers = {k: v.decode() for k, v in record.headers}
        assert "is poison" in headers["dlq-error"]
        assert headers["dlq-consumer"] == consumer.name and headers["dlq-attempts"] == "3"
        assert headers["event-id"] == poison.envelope.event_id
        assert record.key == poison.key and record.value == poison.envelope.SerializeToString()

        # The operator looks at it.
        listed = cli.invoke(dlq_cli.app, ["list", *db_args])
        assert listed.exit_code == 0, listed.output
        assert str(letter.id) in listed.output and "ops.canary_emitted" in listed.output
        shown = cli.invoke(dlq_cli.app, ["show", str(letter.id), *db_args])
        assert shown.exit_code == 0, shown.output
        assert "is poison" in shown.output and poison.envelope.event_id in shown.output

        # Deploy the fix: the consumer restarts without the poison, then the operator redrives.
        assert consumer.stop() == 0
        consumer.start()
        monkeypatch.setenv("CP_TEST_TOPIC", scratch_stream.name)
        monkeypatch.setenv("CP_TEST_CONSUMER", consumer.name)
        monkeypatch.delenv("CP_TEST_POISON_NOTE", raising=False)
        redriven = cli.invoke(dlq_cli.app, ["redrive", str(letter.id), "--projection", FACTORY, *db_args])
        assert redriven.exit_code == 0, redriven.output
        assert effect_counts(engine) == (total, total)

        # Exactly once: a second redrive is refused, a redelivery from Kafka is skipped.
        again = cli.invoke(dlq_cli.app, ["redrive", str(letter.id), "--projection", FACTORY, *db_args])
        assert again.exit_code == 1 and "redriven" in again.output
        refused = cli.invoke(dlq_cli.app, ["discard", str(letter.id), "--reason", "too late", *db_args])
        assert refused.exit_code == 1 and "redriven" in refused.output
        skipped_before = len(consumer.log_events("duplicates_skipped"))
        asyncio.run(produce([poison]))
        wait_until(
            lambda: len(consumer.log_events("duplicates_skipped")) > skipped_before,
            60,
            "the redelivered poison to be skipped",
        )
        assert effect_counts(engine) == (total, total)
        with engine.connect() as conn:
            assert conn.execute(sa.select(dead_letters.c.status)).scalar_one() == "redriven"
        assert consumer.stop() == 0
    finally:
        consumer.ensure_stopped()


def test_a_database_outage_holds_the_batch_unacked_and_a_stop_during_it_commits_no_offset_past_the_database(
    scratch_db: ScratchDatabase,
    scratch_stream: Topic,
    consumer_log: Path,
    admin: pymysql.connections.Connection,
) -> None:
    total, before_outage = 20_000, 5_000
    engine = scratch_db.engine
    events = canaries(scratch_stream, total, aggregates=50)
    asyncio.run(produce(events[:before_outage]))
    consumer = ConsumerProcess(
        scratch_db,
        scratch_stream,
        consumer_log,
        CP_CONSUMER_MAX_BATCH="500",
        CP_CONSUMER_STOP_GRACE="3",
        CP_CONSUMER_INSTANCE_ID="outage-test",  # the restart takes its partitions back at once
    )
    user, grant_db = scratch_db.name[:32], scratch_db.name.replace("_", r"\_")

    def inserts(allowed: bool) -> None:
        """Take INSERT away (or give it back) and drop the user's connections: a database outage.

        A database-level privilege is read when a connection starts, so the consumer's pooled
        connections are killed; its pool reconnects and the next INSERT is refused.
        """
        with admin.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                if allowed:
                    cur.execute(f"GRANT INSERT ON `{grant_db}`.* TO %s@%s", (user, host))
                else:
                    cur.execute(f"REVOKE INSERT ON `{grant_db}`.* FROM %s@%s", (user, host))
            cur.execute("SELECT id FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
            for (thread,) in cur.fetchall():
                with contextlib.suppress(pymysql.err.OperationalError):  # gone already
                    cur.execute(f"KILL CONNECTION {int(thread)}")
        engine.dispose()

    def committed() -> int:
        return sum(asyncio.run(committed_offsets(consumer.name, scratch_stream.name)).values())

    try:
        consumer.start()
        wait_until(lambda: count(engine, inbox) == before_outage, 60, "the consumer to apply the first events")
        inserts(allowed=False)
        asyncio.run(produce(events[before_outage:]))
        wait_until(lambda: bool(consumer.log_events("batch_retry_database_unavailable")), 30, "a refused batch")
        applied = count(engine, inbox)
        assert applied == before_outage
        time.sleep(2.5)  # more than the commit interval: anything acked would be committed by now
        assert count(engine, inbox) == applied, "nothing is applied while the database refuses"
        assert committed() <= applied, "an offset was committed for events the database does not have"
        assert consumer.alive(), "a database outage is waited out, not a reason to exit"

        # A stop now cannot finish the batch: after the grace period the process ends without acking it.
        assert consumer.stop() == 75
        assert consumer.log_events("consumer_exiting_without_commit")
        assert committed() <= applied

        inserts(allowed=True)
        consumer.start()
        wait_until(lambda: count(engine, inbox) >= total, 90, "every event after the outage")
        assert consumer.stop() == 0
    finally:
        inserts(allowed=True)
        consumer.ensure_stopped()
    assert effect_counts(engine) == (total, total)
    assert committed() == total


def test_dlq_commands_discard_a_dead_letter_with_its_reason_and_refuse_what_is_not_pending(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    runner = ProjectionRunner(
        scratch_db.engine, make_projection("dlq-cli", scratch_stream, poison_note="poison"), retry_backoff=0
    )
    poison = canary(scratch_stream, "a", 1, note="poison")
    record = RawRecord(scratch_stream.name, 0, 7, poison.key, poison.envelope.SerializeToString(), poison.headers())
    assert runner.apply_batch([record]).dead_lettered == 1
    with scratch_db.engine.connect() as conn:
        letter_id = conn.execute(sa.select(dead_letters.c.id)).scalar_one()
    cli = CliRunner(env={"COLUMNS": "250"})
    db_args = ["--database-url", scratch_db.url]

    assert cli.invoke(dlq_cli.app, ["discard", str(letter_id), "--reason", " ", *db_args]).exit_code == 1
    discarded = cli.invoke(dlq_cli.app, ["discard", str(letter_id), "--reason", "replayed by hand", *db_args])
    assert discarded.exit_code == 0, discarded.output
    assert "no dead letters" in cli.invoke(dlq_cli.app, ["list", *db_args]).output
    listed = cli.invoke(dlq_cli.app, ["list", "--status", "discarded", "--consumer", "dlq-cli", *db_args])
    assert str(letter_id) in listed.output and "discarded" in listed.output
    shown = cli.invoke(dlq_cli.app, ["show", str(letter_id), *db_args])
    assert "replayed by hand" in shown.output and poison.envelope.event_id in shown.output

    factory_env = {"CP_TEST_TOPIC": scratch_stream.name, "CP_TEST_CONSUMER": "dlq-cli"}
    refused = cli.invoke(dlq_cli.app, ["redrive", str(letter_id), "--projection", FACTORY, *db_args], env=factory_env)
    assert refused.exit_code == 1 and "discarded" in refused.output
    unloadable = cli.invoke(dlq_cli.app, ["redrive", str(letter_id), "--projection", "no.such.module:X", *db_args])
    assert unloadable.exit_code == 2 and "no.such.module" in unloadable.output
    assert cli.invoke(dlq_cli.app, ["show", "999999", *db_args]).exit_code == 1
    assert cli.invoke(dlq_cli.app, ["list"]).exit_code == 2  # which database?
    assert effect_counts(scratch_db.engine) == (0, 0)


async def relay_until_published(engine: Engine, within: float = 30) -> None:
    """Run the outbox relay in this process until nothing is left unpublished."""
    from cpshared.events.relay import OutboxRelay

    relay = OutboxRelay(engine, KAFKA, name="consumer-test-relay")
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))

    def unpublished() -> int:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return int(conn.execute(query).scalar_one())

    try:
        deadline = time.monotonic() + within
        while await asyncio.to_thread(unpublished):
            assert not task.done(), task
            assert time.monotonic() < deadline, "the relay did not publish the dead-letter record"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task


async def read_one(topic: str, within: float = 20) -> Any:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500)
            records = batch.get(tp, [])
            if records:
                assert len(records) == 1, records
                return records[0]
        raise AssertionError(f"nothing on {topic}")
    finally:
        await consumer.stop()
