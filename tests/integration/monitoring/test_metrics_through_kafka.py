"""Samples through the real backbone: the collector writes them to monitoring's outbox, the relay
process publishes them to Kafka, monitoring's consumer process stores them in server_metrics.
The consumer is killed (SIGKILL) after it stored the first pass and a second one is started:
redelivered records are skipped by the inbox, and the second pass (which asks for two of the
same minutes again) adds only its new minute. The one redirection: a trigger on the scratch
outbox sends its rows to a scratch topic instead of the platform's streams."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hcloud import Client
from hcloud.images import Image
from hcloud.server_types import ServerType

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cpshared.db import make_engine
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from monitoring_service.adapters.upstream import HcloudMetrics
from monitoring_service.bootstrap import Monitoring
from monitoring_service.service_layer.collection import Collector
from tests.integration.backbone import KAFKA
from tests.integration.live import SIMULATOR_TOKEN, simulator_in_thread

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 5, 4, 8, 30, 15, tzinfo=UTC)


def _env(**values: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        **values,
    }


def _wait(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise AssertionError(f"timed out waiting for {what}; log:\n{tail}")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


@pytest.fixture
def monitoring_url(paths: LocalPaths, scratch_stream: Topic) -> Iterator[str]:
    mariadb = MariaDB(paths.root)
    with mariadb.scratch_database("cp_test_mo_kafka") as url:
        upgrade("monitoring", migrations_dir("monitoring"), url)
        database = sa.engine.make_url(url).database
        conn = mariadb.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE TRIGGER `{database}`.`outbox_to_scratch_topic` BEFORE INSERT ON `{database}`.`outbox` "
                    "FOR EACH ROW SET NEW.topic = %s",
                    (scratch_stream.name,),
                )
        finally:
            conn.close()
        yield url


def _running(monitoring: Monitoring) -> bool:
    with monitoring.uow() as uow:
        return uow.servers.collectable() != []


def _rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM server_metrics")).scalar_one())


def test_samples_travel_outbox_relay_kafka_consumer_and_count_once_across_a_consumer_kill(
    monitoring_url: str, scratch_stream: Topic, tmp_path: Path
) -> None:
    engine = make_engine(monitoring_url, pool_size=2)
    log = tmp_path / "processes.log"
    try:
        with simulator_in_thread() as endpoint:
            upstream = Client(token=SIMULATOR_TOKEN, api_endpoint=endpoint)
            made = upstream.servers.create(
                "sampled", server_type=ServerType(name="cx22"), image=Image(name="ubuntu-24.04")
            )
            upstream_id = int(made.server.id or 0)
            # What compute's stream tells monitoring: server 41 runs, upstream as ``upstream_id``.
            with engine.begin() as conn:
                write_events(
                    conn,
                    [
                        new_event(
                            catalog.SERVER_CREATED,
                            producer="compute",
                            aggregate_id=41,
                            aggregate_version=1,
                            payload=compute_pb.ServerCreated(server_id=41, user_id=7, status="initializing"),
                        ),
                        new_event(
                            catalog.SERVER_STATUS_CHANGED,
                            producer="compute",
                            aggregate_id=41,
                            aggregate_version=2,
                            payload=compute_pb.ServerStatusChanged(
                                server_id=41,
                                user_id=7,
                                old_status="initializing",
                                status="running",
                                upstream_id=upstream_id,
                            ),
                        ),
                    ],
                )
            consumer_env = _env(
                CP_SERVICE_NAME="monitoring",
                CP_DATABASE_URL=monitoring_url,
                CP_TEST_TOPIC=scratch_stream.name,
                CP_TEST_CONSUMER=f"monitoring-{scratch_stream.name}",
                CP_CONSUMER_INSTANCE_ID=f"monitoring-e2e-{scratch_stream.name}",
            )
            consumer_argv = [
                "-m",
                "cpshared.events.consumer_main",
                "tests.integration.monitoring.support:projection_from_env",
            ]
            relay_env = _env(
                CP_SERVICE_NAME="relays",
                CP_RELAY_DATABASE_URLS=json.dumps({"monitoring": monitoring_url}),
                CP_RELAY_IDLE_POLL_INTERVAL="0.1",
            )
            monitoring = Monitoring(engine)
            collector = Collector(monitoring.uow, HcloudMetrics(endpoint, SIMULATOR_TOKEN))
            with _process(["-m", "cpshared.events.relay_main", "--all"], relay_env, log):
                with _process(consumer_argv, consumer_env, log) as first:
                    _wait(lambda: _running(monitoring), 60, "the running server", log)
                    assert collector.collect(T0).samples == 3
                    _wait(lambda: _rows(engine) == 3, 60, "the first pass's samples", log)
                    first.send_signal(signal.SIGKILL)
                    first.wait(10)
                assert collector.collect(T0 + timedelta(minutes=1)).samples == 1
                with _process(consumer_argv, consumer_env, log):
                    _wait(lambda: _rows(engine) == 4, 90, "the second pass's sample", log)
                    time.sleep(2)  # anything delivered again would have been applied by now
                    assert _rows(engine) == 4
        with engine.connect() as conn:
            instants = list(
                conn.execute(sa.text("SELECT recorded_at FROM server_metrics ORDER BY recorded_at")).scalars()
            )
    finally:
        engine.dispose()
    minute = T0.replace(second=0, tzinfo=None)
    assert instants == [minute + timedelta(minutes=n) for n in (-2, -1, 0, 1)]
