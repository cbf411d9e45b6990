"""The proof, through the gateway: a rule "cpu_usage > 80 for 5 minutes" on a server whose
simulated CPU rises to 95 % (the simulator's control API) and falls again. On a controlled clock
the collector samples the server once a minute (its passes at chosen instants); the samples go
from monitoring's outbox to a scratch stream, the real alert processor (faust) evaluates them and
is SIGKILLed mid-window, a new one restores the window from its changelog; the alert events it
publishes are applied by monitoring's consumer; the customer sees the alert through /v1/alerts:
triggered on the fifth minute at 95 % (not before), resolved on the first minute below, and
acknowledges it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.events.projection import RawRecord
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic, TopicKind
from monitoring_service.adapters.upstream import HcloudMetrics
from monitoring_service.service_layer.collection import Collector
from tests.integration.backbone import KAFKA, read_topic
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.integration.monitoring.support import outbox_records, project
from tests.integration.monitoring.test_alert_processor import (
    _distinct,
    _processor,
    _topics,
    _transitions,
    _wait,
    _window_written,
)
from tests.integration.monitoring.test_alert_rules_api import RULE, Tenant, _server_of
from tests.integration.monitoring.test_stored_metrics import _upstream_id

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_ap_id") as identity_url,
        mariadb.scratch_database("cp_test_ap_gw") as gateway_url,
        mariadb.scratch_database("cp_test_ap_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


async def _publish(topic: str, records: list[RawRecord]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(topic, r.value, key=r.key, headers=list(r.headers))
    finally:
        await producer.stop()


def test_cpu_above_80_for_5_minutes_triggers_resolves_and_is_acknowledged_through_the_gateway(
    platform: LivePlatform, tmp_path: Path
) -> None:
    assert platform.monitoring is not None and platform.simulator is not None
    ann = Tenant(platform, "proof@example.com")
    server_id = _server_of(platform, ann, "busy-1")
    rule = ann.call("POST", "/v1/alert_rules", RULE | {"name": "cpu > 80", "resource_id": server_id})
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["alert_rule"]["id"]
    control = platform.simulator.removesuffix("/v1") + "/_sim"
    upstream = _upstream_id(platform, server_id)
    # 95 % from minute 3 to minute 9; the wave (at most 50 %) before and after.
    for at, cpu in ((T0 + timedelta(minutes=3), 95), (T0 + timedelta(minutes=10), None)):
        answer = httpx.put(f"{control}/servers/{upstream}/cpu", json={"cpu": cpu, "from": at.isoformat()}, timeout=10)
        assert answer.status_code == 200, answer.text
    collector = Collector(platform.monitoring.uow, HcloudMetrics(platform.simulator, SIMULATOR_TOKEN))
    engine = platform.monitoring.engine
    seen = max((r.offset for r in outbox_records(engine)), default=0)

    def samples_until(minute: int, start: int) -> list[RawRecord]:
        nonlocal seen
        for m in range(start, minute + 1):
            collector.collect(T0 + timedelta(minutes=m, seconds=10))
        records = [r for r in outbox_records(engine, after=seen) if r.topic == "monitoring.metrics"]
        seen = max([seen, *(r.offset for r in outbox_records(engine))])
        return records

    run = os.urandom(4).hex()
    source, sink, app = f"test.{run}.metrics", f"test.{run}.events", f"test-{run}-alerts"
    log = tmp_path / "processor.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_SERVICE_NAME": "monitoring",
        "CP_DATABASE_URL": str(platform.monitoring.engine.url.render_as_string(hide_password=False)),
        "CP_TEST_APP_ID": app,
        "CP_TEST_SOURCE": source,
        "CP_TEST_SINK": sink,
    }
    with _topics((source, "delete"), (sink, "delete"), (f"{app}-alert_windows-changelog", "compact")):
        # Minutes 0-6: three minutes at 95 % (3, 4, 5) then a fourth (6): one short of five.
        asyncio.run(_publish(source, samples_until(6, 0)))
        with _processor(env, log) as first:
            _wait(_window_written(f"{app}-alert_windows-changelog", 6), 300, "the window at minute 6", log, first)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert _transitions(sink) == []
        assert ann.call("GET", "/v1/alerts").json()["alerts"] == []
        # Minutes 7-12: the fifth minute at 95 % is 7; from 10 on the CPU is down again.
        asyncio.run(_publish(source, samples_until(12, 7)))
        with _processor(env, log) as second:
            _wait(lambda: len(_distinct(_transitions(sink))) == 2, 300, "triggered and resolved", log, second)
        records = asyncio.run(_raw(sink))
    project(platform.monitoring.engine, records)

    [alert] = ann.call("GET", "/v1/alerts").json()["alerts"]
    assert (alert["alert_rule_id"], alert["resource_id"], alert["status"]) == (rule_id, server_id, "resolved")
    assert alert["triggered"].startswith("2026-05-04T08:07:00") and alert["value"] == 95.0
    assert alert["resolved"].startswith("2026-05-04T08:10:00")
    acked = ann.call("POST", f"/v1/alerts/{alert['id']}/actions/acknowledge")
    assert acked.status_code == 200, acked.text
    body = acked.json()["alert"]
    assert body["status"] == "resolved" and body["acknowledged"] and body["acknowledged_by"]


async def _raw(topic: str) -> list[RawRecord]:
    return await read_topic(Topic(topic, TopicKind.DOMAIN, 6))
