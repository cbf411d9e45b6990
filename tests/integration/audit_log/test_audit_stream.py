"""The audit consumer on the real Kafka: killed again and again while the stream flows, it
still records every event exactly once in chains that verify; a replay from offset 0 then
rebuilds the same rows and the same chain heads."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from audit_service.adapters.chain_store import SqlChainStore
from audit_service.adapters.tables import audit_chain_heads, audit_logs
from audit_service.service_layer.integrity import verify
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import make_engine
from cpshared.events.replay import compare, replay
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from tests.integration.audit_log.support import KEY, api_call, scratch_audit
from tests.integration.backbone import KAFKA
from tests.integration.test_consumer_crashes import produce, wait_until

ROOT = Path(__file__).resolve().parents[3]
FACTORY = "tests.integration.audit_log.support:audit_from_env"


@pytest.fixture
def audit_db(paths: LocalPaths) -> Iterator[tuple[str, Engine]]:
    with MariaDB(paths.root).scratch_database("cp_test_as") as url:
        upgrade("audit", migrations_dir("audit"), url)
        engine = make_engine(url, pool_size=4)
        try:
            yield url, engine
        finally:
            engine.dispose()


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_logs)).scalar_one())


def test_killed_consumer_records_each_event_once_and_a_replay_rebuilds_the_same_chains(
    audit_db: tuple[str, Engine], scratch_stream: Topic, tmp_path: Path
) -> None:
    url, engine = audit_db
    key_file = tmp_path / "audit.key"
    key_file.write_text(base64.b64encode(KEY).decode())
    calls = 2000
    events = [e for n in range(calls) for e in api_call(10 + n % 7, 500 + n, scratch_stream, scratch_stream, n)]
    consumer_name = f"audit-{scratch_stream.name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_SERVICE_NAME": "audit",
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_DATABASE_URL": url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_TEST_TOPIC": scratch_stream.name,
        "CP_TEST_CONSUMER": consumer_name,
        "CP_AUDIT_SIGNING_KEY_FILE": str(key_file),
        "CP_CONSUMER_INSTANCE_ID": "audit-crash-test",
        "CP_CONSUMER_MAX_BATCH": "300",
    }
    log = (tmp_path / "consumer.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY], cwd=ROOT, env=env, stdout=log, stderr=log
        )

    async def flow() -> None:
        await produce(events, chunk=600, pause=0.3)

    process = start()
    kills = 0
    try:
        producer = subprocess_thread(flow)
        while producer.is_alive() or kills < 4:
            time.sleep(1.5)
            if count(engine) == 0 and kills == 0:
                continue  # let it join its group and apply something first
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1
            process = start()
            if kills >= 8:
                break
        producer.join(60)
        wait_until(lambda: count(engine) >= len(events), 120, "every event in the audit log")
        time.sleep(2)  # anything applied twice would show now
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
    assert kills >= 4
    with engine.connect() as conn:
        assert count(engine) == len(events) == 6000
        distinct = conn.execute(sa.select(sa.func.count(sa.distinct(audit_logs.c.event_id)))).scalar_one()
        assert distinct == len(events)
        live_heads = {r.chain_id: (r.chain_seq, r.row_hash) for r in conn.execute(sa.select(audit_chain_heads))}
    report = verify(SqlChainStore(engine), KEY)
    assert report.intact, [str(f) for f in report.findings]

    projection = scratch_audit(scratch_stream, consumer_name)
    result = asyncio.run(replay(engine, KAFKA, projection, batch=1000))
    assert (result.records, result.applied, result.dead_lettered) == (len(events), len(events), 0)
    comparison = compare(engine, projection)
    assert comparison.identical, comparison
    with engine.connect() as conn:
        rebuilt = conn.execute(sa.text("SELECT chain_id, chain_seq, row_hash FROM audit_chain_heads__replay")).all()
    assert {r.chain_id: (r.chain_seq, r.row_hash) for r in rebuilt} == live_heads


def subprocess_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> threading.Thread:
    """Run an async producer in a thread of its own, so the test can kill consumers meanwhile."""
    thread = threading.Thread(target=lambda: asyncio.run(work()), daemon=True)
    thread.start()
    return thread
