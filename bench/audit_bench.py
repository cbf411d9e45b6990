"""Audit benchmark: events appended to the audit log (with their HMAC chain) per second,
beside the raw consume rate of the same stream, measured in the same run.

On a scratch topic (6 partitions, like a domain stream) filled with ``n`` events as the
platform writes them (each API call: ``api_key.created``, ``organization.member_role_changed``
and the gateway's ``request.completed``, with actor and request id):

(a) raw: aiokafka ``getmany`` from the beginning, no group, no work;
(b) audit: the audit consumer PROCESS (``python -m cpshared.events.consumer_main`` with the
    audit projection) into a scratch audit database -- one audit row with its chain position
    and HMAC, one inbox row per event, chain heads once per batch -- timed from its first
    committed batch to the last row;
(c) the projection alone: ProjectionRunner.apply_batch of the audit projection over the same
    records without Kafka, to tell the database's share from the driver's.

Target (issue 7): (b) >= 10,000 events/s. ``make bench-audit`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from audit_service.adapters.tables import audit_logs  # noqa: E402
from bench.consumer_bench import _topics, raw_consume_rate, read_records  # noqa: E402
from cloudctl.infra.mariadb import MariaDB  # noqa: E402
from cloudctl.paths import LocalPaths  # noqa: E402
from cpshared.db import make_engine  # noqa: E402
from cpshared.events.projection import ProjectionRunner  # noqa: E402
from cpshared.migrations import migrations_dir, upgrade  # noqa: E402
from cpshared.topics import Topic, TopicKind  # noqa: E402
from tests.integration.audit_log.support import KEY, api_call, scratch_audit  # noqa: E402
from tests.integration.backbone import KAFKA, produce_events  # noqa: E402

FACTORY = "tests.integration.audit_log.support:audit_from_env"
TARGET = 10_000


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_logs)).scalar_one())


def consumer_rate(url: str, topic: Topic, n: int, key_file: Path) -> dict[str, Any]:
    engine = make_engine(url, pool_size=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_") or k.startswith("CP_CONSUMER_")} | {
        "CP_SERVICE_NAME": "audit-bench",
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "WARNING",
        "CP_DATABASE_URL": url,
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_TEST_TOPIC": topic.name,
        "CP_TEST_CONSUMER": f"audit-bench-{uuid.uuid4().hex[:6]}",
        "CP_AUDIT_SIGNING_KEY_FILE": str(key_file),
    }
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        first = done = None
        try:
            while done is None:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the consumer exited:\n{log.read().decode(errors='replace')[-3000:]}")
                if time.perf_counter() - started > 600:
                    raise RuntimeError("the audit consumer did not finish in 600 s")
                applied = count(engine)
                now = time.perf_counter()
                if applied and first is None:
                    first = now
                if applied >= n:
                    done = now
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(30)
            engine.dispose()
    assert first is not None
    return {"from_start": n / (done - started), "steady": n / (done - first)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60_000, help="events (a multiple of 3)")
    args = parser.parse_args()
    n = args.n - args.n % 3
    topic = Topic(name=f"bench.audit.{uuid.uuid4().hex[:8]}", kind=TopicKind.DOMAIN, partitions=6)
    asyncio.run(_topics(KAFKA, create=[topic.name]))
    try:
        events = [e for i in range(n // 3) for e in api_call(10 + i % 97, 1000 + i, topic, topic, i)]
        asyncio.run(produce_events(topic, events))
        raw = asyncio.run(raw_consume_rate(KAFKA, topic, n))
        records = asyncio.run(read_records(KAFKA, topic, n))
        mariadb = MariaDB(LocalPaths().root)
        with tempfile.TemporaryDirectory() as keys:
            key_file = Path(keys) / "audit.key"
            key_file.write_text(base64.b64encode(KEY).decode())
            with mariadb.scratch_database("cp_bench_audit") as url:
                upgrade("audit", migrations_dir("audit"), url)
                consumer = consumer_rate(url, topic, n, key_file)
            with mariadb.scratch_database("cp_bench_audit") as url:
                upgrade("audit", migrations_dir("audit"), url)
                engine = make_engine(url, pool_size=1)
                runner = ProjectionRunner(engine, scratch_audit(topic, "audit-runner-bench"))
                started = time.perf_counter()
                for start in range(0, n, 2000):
                    runner.apply_batch(records[start : start + 2000])
                alone = n / (time.perf_counter() - started)
                engine.dispose()
    finally:
        asyncio.run(_topics(KAFKA, delete=[topic.name]))
    print(f"\n{n:,} events (6 partitions), audit rows with an HMAC chain per partition")
    print(f"raw aiokafka consume                 {raw:10,.0f} events/s")
    steady = consumer["steady"]
    print(f"audit consumer process, steady       {steady:10,.0f} events/s  ({steady / raw:.3f} x raw)")
    print(f"audit consumer process, from start   {consumer['from_start']:10,.0f} events/s")
    print(f"audit projection alone (no Kafka)    {alone:10,.0f} events/s")
    verdict = "met" if steady >= TARGET else "MISSED"
    print(f"target >= {TARGET:,} events/s appended: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
