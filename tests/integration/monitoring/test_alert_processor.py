"""The alert processor (faust-streaming) on the real broker and a real monitoring database.

A rule "cpu_usage > 80 for 5 minutes" on server 41; one sample a minute: 50 % for four minutes,
then 95 %. The processor sees four breaching minutes, is killed (SIGKILL) mid-window, and a new
one restores the window from the changelog: the alert triggers on the fifth breaching minute
(not before), and resolves on the first minute below the threshold. A second processor with its
own changelog, replaying the stream from the start, publishes the same events (ids included)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.db import make_engine
from cpshared.events.envelope import ReceivedEvent, read_event
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic, TopicKind
from monitoring_service.domain.alert_evaluation import alert_id
from monitoring_service.domain.metrics import Sample
from monitoring_service.service_layer.collection import sample_event
from tests.integration.backbone import KAFKA, produce_events, read_topic

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
SERVER = 41


def _env(**values: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_SERVICE_NAME": "monitoring",
        **values,
    }


async def _admin(action: Callable[[AIOKafkaAdminClient], object]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await action(admin)  # type: ignore[misc]
    finally:
        await admin.close()


@contextlib.contextmanager
def _topics(*topics: tuple[str, str]) -> Iterator[None]:
    """Scratch topics (name, cleanup policy) of six partitions, deleted afterwards."""
    new = [
        NewTopic(
            name, num_partitions=6, replication_factor=1, topic_configs={"retention.ms": "-1", "cleanup.policy": p}
        )
        for name, p in topics
    ]
    asyncio.run(_admin(lambda admin: admin.create_topics(new)))
    try:
        yield
    finally:
        asyncio.run(_admin(lambda admin: admin.delete_topics([name for name, _ in topics])))


@contextlib.contextmanager
def _processor(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "tests.integration.monitoring.alert_processor_main"]
    with log.open("ab") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _wait(
    condition: Callable[[], bool], timeout: float, what: str, log: Path, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return
        time.sleep(0.5)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(f"timed out waiting for {what}; log:\n{tail}")


def _samples(cpu: list[int], start: int = 0) -> list[object]:
    return [
        sample_event(Sample(SERVER, T0 + timedelta(minutes=start + n), {"cpu": str(value)}))
        for n, value in enumerate(cpu)
    ]


def _transitions(topic: str) -> list[ReceivedEvent]:
    records = asyncio.run(read_topic(Topic(topic, TopicKind.DOMAIN, 6)))
    return [read_event(r.topic, r.partition, r.offset, r.value) for r in records if r.value is not None]


def _distinct(events: list[ReceivedEvent]) -> list[tuple[object, ...]]:
    """The alert events once each (at least once: a re-sent one is identical, id included)."""
    seen: dict[str, bytes] = {}
    facts = set()
    for event in events:
        assert seen.setdefault(event.event_id, event.envelope.SerializeToString()) == event.envelope.SerializeToString()
        p = event.payload
        assert isinstance(p, monitoring_pb.AlertChanged)
        facts.add(
            (
                event.envelope.occurred_at.ToDatetime(UTC).isoformat(),
                event.event_type,
                p.status,
                p.value,
                p.alert_rule_id,
                p.resource_id,
                p.user_id,
                p.alert_id,
                p.message,
                event.event_id,
            )
        )
    return sorted(facts)


def _window_written(changelog: str, minute: int) -> Callable[[], bool]:
    at = (T0 + timedelta(minutes=minute)).isoformat()

    def written() -> bool:
        records = asyncio.run(read_topic(Topic(changelog, TopicKind.STATE, 6)))
        return any(r.value is not None and json.loads(r.value).get("last_at") == at for r in records)

    return written


@pytest.fixture
def monitoring_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_mo_alerts") as url:
        upgrade("monitoring", migrations_dir("monitoring"), url)
        yield url


def test_a_rule_triggers_after_its_duration_resolves_and_survives_a_kill_and_a_replay(
    monitoring_url: str, tmp_path: Path
) -> None:
    engine = make_engine(monitoring_url, pool_size=1)
    now = datetime(2026, 5, 4, 7, 0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO monitored_servers (server_id, user_id, organization_id, upstream_id, status, updated_at) "
                "VALUES (:s, 7, NULL, 900, 'running', :now)"
            ),
            {"s": SERVER, "now": now},
        )
        rule_id = conn.execute(
            sa.text(
                "INSERT INTO alert_rules (user_id, name, resource_type, resource_id, metric, operator, threshold, "
                "duration_minutes, enabled, notification_channels, created_at, updated_at, version) "
                "VALUES (7, 'cpu high', 'server', :s, 'cpu_usage', 'gt', 80, 5, 1, '[]', :now, :now, 1)"
            ),
            {"s": SERVER, "now": now},
        ).lastrowid
    engine.dispose()
    run = uuid.uuid4().hex[:8]
    source, sink, replay_sink = f"test.{run}.metrics", f"test.{run}.alerts", f"test.{run}.replayed"
    app, replay_app = f"test-{run}-alerts", f"test-{run}-replay"
    log = tmp_path / "processor.log"
    source_topic = Topic(source, TopicKind.TELEMETRY, 6)
    with _topics(
        (source, "delete"),
        (sink, "delete"),
        (replay_sink, "delete"),
        (f"{app}-alert_windows-changelog", "compact"),
        (f"{replay_app}-alert_windows-changelog", "compact"),
    ):
        env = _env(CP_DATABASE_URL=monitoring_url, CP_TEST_SOURCE=source)
        # Minutes 0-3 at 50 %, 4-7 at 95 %: four breaching minutes, one short of the rule's five.
        asyncio.run(produce_events(source_topic, _samples([50, 50, 50, 50, 95, 95, 95, 95])))  # type: ignore[arg-type]
        with _processor(env | {"CP_TEST_APP_ID": app, "CP_TEST_SINK": sink}, log) as first:
            _wait(_window_written(f"{app}-alert_windows-changelog", 7), 300, "the window at minute 7", log, first)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert _transitions(sink) == []
        # Minutes 8-10 at 95 % (the fifth breaching sample is minute 8), 11-12 at 40 %.
        asyncio.run(produce_events(source_topic, _samples([95, 95, 95, 40, 40], start=8)))  # type: ignore[arg-type]
        with _processor(env | {"CP_TEST_APP_ID": app, "CP_TEST_SINK": sink}, log) as second:
            _wait(lambda: len(_distinct(_transitions(sink))) == 2, 300, "the alert triggered and resolved", log, second)
            time.sleep(2)  # anything sent twice or more would be here by now
            history = _distinct(_transitions(sink))
        # Replay: a processor with its own group and changelog over the whole stream.
        with _processor(env | {"CP_TEST_APP_ID": replay_app, "CP_TEST_SINK": replay_sink}, log) as third:
            _wait(lambda: len(_distinct(_transitions(replay_sink))) == 2, 300, "the replay's transitions", log, third)
            replayed = _distinct(_transitions(replay_sink))
    at = [(T0 + timedelta(minutes=m)).isoformat() for m in (8, 11)]
    assert [fact[:7] for fact in history] == [
        (at[0], "alert.triggered", "triggered", "95.00", rule_id, SERVER, 7),
        (at[1], "alert.resolved", "resolved", "40.00", rule_id, SERVER, 7),
    ]
    assert history[0][7] == history[1][7] == alert_id(rule_id, SERVER, T0 + timedelta(minutes=8))
    assert history[0][8] == "triggered: cpu_usage > 80.00 for 5 min (now 95.00)"
    assert replayed == history
