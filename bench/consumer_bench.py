"""Consumer benchmark: raw aiokafka consume rate vs. the projection consumer's apply rate, and its memory.

On a scratch topic (6 partitions, like a domain stream) filled with ``n`` canary envelopes:

(a) raw: aiokafka ``getmany`` from the beginning, manual assignment, no group, no work;
(b) projection: the consumer PROCESS (``python -m cpshared.events.consumer_main``) running the
    canary counter projection into a scratch database -- one effect row and one inbox row
    per event, batches in one transaction -- timed from its start and from its first
    committed batch to the last inbox row committed;
(c) the peak resident memory of that process (psutil, every 50 ms), and its RSS at each
    quarter of the run to show whether it stays flat.

To tell where the time goes it also times (d) the driver alone: the same batch loop with a
no-op apply, in this process, and (e) the database alone: ProjectionRunner.apply_batch on
the same records without Kafka. ``--profile`` runs (d) under cProfile.

Targets: projection >= 20,000 events/s and >= 0.8 x the runner without Kafka; consumer RSS <= 300 MB.

    .venv/bin/python -m bench.consumer_bench [-n 100000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/consumer_bench.py` as well as `python -m bench.consumer_bench`
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from cloudctl.paths import LocalPaths  # noqa: E402
from cpshared.db import make_engine  # noqa: E402
from cpshared.events.consumer import ConsumerTuning, ProjectionConsumer  # noqa: E402
from cpshared.events.projection import BatchResult, ProjectionRunner, RawRecord  # noqa: E402
from cpshared.events.tables import inbox  # noqa: E402
from cpshared.events.tables import metadata as event_metadata  # noqa: E402
from cpshared.topics import Topic, TopicKind  # noqa: E402
from tests.integration.backbone import (  # noqa: E402
    canary_events,
    make_projection,
    produce_events,
    projection_metadata,
    scratch_database,
)

PARTITIONS = 6
AGGREGATES = 1000
FACTORY = "tests.integration.backbone:canary_counter_from_env"
TARGET_EVENTS_PER_S = 20_000
TARGET_RATIO = 0.5
TARGET_DB_RATIO = 0.8
TARGET_RSS_MB = 300


# -- (a) raw aiokafka -------------------------------------------------------------------------
async def raw_consume_rate(bootstrap: str, topic: Topic, n: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        received = 0
        started = time.perf_counter()
        while received < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                received += len(records)
        return received / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def read_records(bootstrap: str, topic: Topic, n: int) -> list[RawRecord]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[RawRecord] = []
        while len(records) < n:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                records += [RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in batch]
        return records
    finally:
        await consumer.stop()


# -- (b, c) the consumer process --------------------------------------------------------------
def projection_rate(engine_url: str, bootstrap: str, topic: Topic, n: int, consumer: str) -> dict[str, Any]:
    """Run the consumer process until ``n`` inbox rows are committed; times and memory."""
    engine = make_engine(engine_url, pool_size=1)
    # CP_CONSUMER_* from this environment tune the consumer under test (batch, buffer, fetch size).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_") or k.startswith("CP_CONSUMER_")} | {
        "CP_SERVICE_NAME": "consumer-bench",
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "WARNING",
        "CP_DATABASE_URL": engine_url,
        "CP_KAFKA_BOOTSTRAP": bootstrap,
        "CP_TEST_TOPIC": topic.name,
        "CP_TEST_CONSUMER": consumer,
    }
    query = sa.select(sa.func.count()).select_from(inbox).where(inbox.c.consumer == consumer)
    rss: list[tuple[int, int]] = []  # (applied, rss bytes)
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "cpshared.events.consumer_main", FACTORY],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        watched = psutil.Process(process.pid)
        first = done = None
        applied = 0
        last_count = 0.0
        try:
            while done is None:
                if process.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"the consumer exited with {process.returncode}:\n{tail}")
                now = time.perf_counter()
                if now - started > 600:
                    raise RuntimeError(f"the consumer applied {applied} of {n} events in 600 s")
                rss.append((applied, watched.memory_info().rss))
                if now - last_count >= 0.2:
                    last_count = now
                    with engine.connect() as conn:
                        applied = int(conn.execute(query).scalar_one())
                    if applied and first is None:
                        first = now
                    if applied >= n:
                        done = now
                time.sleep(0.05)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            engine.dispose()
    assert first is not None
    quarters = {}
    for q in (1, 2, 3, 4):  # the last sample before each quarter of the events was applied
        upto = [r for a, r in rss if a <= n * q / 4]
        quarters[f"rss_mb_at_{25 * q}pct"] = round(upto[-1] / 2**20, 1) if upto else None
    return {
        "projection_events_per_s_from_start": round(n / (done - started)),
        "projection_events_per_s_steady": round(n / (done - first)),
        "consumer_startup_s": round(first - started, 2),
        "consumer_peak_rss_mb": round(max(r for _, r in rss) / 2**20, 1),
        **quarters,
    }


# -- (d) the driver alone, (e) the database alone --------------------------------------------------
class _NoApply(ProjectionConsumer):
    """The batch loop with the database left out: what the Kafka side costs per record."""

    received = 0
    target = 0
    started = threading.Event()
    finished = threading.Event()

    def _apply(self, records: list[RawRecord]) -> BatchResult:
        self.received += len(records)
        self.started.set()
        if self.received >= self.target:
            self.finished.set()
        return BatchResult(applied=len(records))


async def driver_only_rate(
    engine: sa.Engine, bootstrap: str, topic: Topic, n: int, profile: cProfile.Profile | None
) -> float:
    consumer = _NoApply(make_projection(f"bench-driver-{uuid.uuid4().hex[:8]}", topic), engine, bootstrap)
    consumer.target, consumer.started, consumer.finished = n, threading.Event(), threading.Event()
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.to_thread(consumer.started.wait)
        skipped = consumer.received  # time from the first batch on, as for the projection
        started = time.perf_counter()
        if profile:
            profile.enable()
        await asyncio.to_thread(consumer.finished.wait)
        if profile:
            profile.disable()
        return (n - skipped) / (time.perf_counter() - started)
    finally:
        stop.set()
        await running


def runner_only_rate(engine: sa.Engine, topic: Topic, records: Sequence[RawRecord], batch: int) -> float:
    runner = ProjectionRunner(engine, make_projection(f"bench-db-{uuid.uuid4().hex[:8]}", topic))
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        runner.apply_batch(records[start : start + batch])
    return len(records) / (time.perf_counter() - started)


# -- the whole benchmark ----------------------------------------------------------------------
async def _topics(bootstrap: str, create: list[str] | None = None, delete: list[str] | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in create])
        if delete:
            await admin.delete_topics(delete)
    finally:
        await admin.close()


async def bench_consume(
    engine_url: str, bootstrap: str, n: int = 100_000, *, details: bool = True, profile: bool = False
) -> dict[str, Any]:
    """Events/s of raw aiokafka and of the projection consumer process, their ratio, and its memory.

    Works in the (scratch) database it is given: creates the backbone's and the canary
    counter's tables there if missing, under consumer names of its own.
    """
    topic = Topic(name=f"bench.{uuid.uuid4().hex[:8]}.consume", kind=TopicKind.DOMAIN, partitions=PARTITIONS)
    engine = make_engine(engine_url, pool_size=2)
    event_metadata.create_all(engine)
    projection_metadata.create_all(engine)
    await _topics(bootstrap, create=[topic.name])
    result: dict[str, Any] = {"events": n}
    try:
        filled = time.perf_counter()
        await produce_events(topic, canary_events(topic, n, aggregates=AGGREGATES), bootstrap=bootstrap)
        result["fill_s"] = round(time.perf_counter() - filled, 1)
        raw = await raw_consume_rate(bootstrap, topic, n)
        result["raw_consume_events_per_s"] = round(raw)
        result |= await asyncio.to_thread(
            projection_rate, engine_url, bootstrap, topic, n, f"bench-{uuid.uuid4().hex[:8]}"
        )
        steady = result["projection_events_per_s_steady"]
        result["projection_to_raw_ratio"] = round(steady / raw, 3)
        if details:
            result["driver_only_events_per_s"] = round(await driver_only_rate(engine, bootstrap, topic, n, None))
            profiler = cProfile.Profile() if profile else None
            if profiler is not None:  # a second run: the profiler slows the loop down several times
                await driver_only_rate(engine, bootstrap, topic, n, profiler)
            records = await read_records(bootstrap, topic, n)
            batch = ConsumerTuning().max_batch
            result["database_only_events_per_s"] = round(
                await asyncio.to_thread(runner_only_rate, engine, topic, records, batch)
            )
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
                result["driver_only_profile"] = out.getvalue()
        result["targets_met"] = {
            f"projection >= {TARGET_EVENTS_PER_S}/s": steady >= TARGET_EVENTS_PER_S,
            f"projection >= {TARGET_RATIO} x raw": steady >= TARGET_RATIO * raw,
            f"projection >= {TARGET_DB_RATIO} x the database alone": (
                "database_only_events_per_s" not in result
                or steady >= TARGET_DB_RATIO * result["database_only_events_per_s"]
            ),
            f"peak RSS <= {TARGET_RSS_MB} MB": result["consumer_peak_rss_mb"] <= TARGET_RSS_MB,
        }
    finally:
        engine.dispose()
        await _topics(bootstrap, delete=[topic.name])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--database-url", help="a scratch database (default: make one on the local MariaDB)")
    parser.add_argument("--profile", action="store_true", help="cProfile the driver alone (d), print the top")
    parser.add_argument("--no-details", action="store_true", help="skip (d) the driver and (e) the database alone")
    args = parser.parse_args()
    try:  # the consumer process runs on uvloop when it is installed; so does this one
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    def run(url: str) -> dict[str, Any]:
        return asyncio.run(
            bench_consume(url, args.bootstrap, args.events, details=not args.no_details, profile=args.profile)
        )

    if args.database_url:
        result = run(args.database_url)
    else:
        with contextlib.contextmanager(scratch_database)(LocalPaths(ROOT)) as scratch:
            result = run(scratch.url)
    profile = result.pop("driver_only_profile", None)
    print(json.dumps(result, indent=2))
    print(
        f"raw aiokafka consume {result['raw_consume_events_per_s']:,} events/s; "
        f"projection {result['projection_events_per_s_steady']:,} events/s "
        f"(ratio {result['projection_to_raw_ratio']}); "
        f"database alone {result.get('database_only_events_per_s', 0):,} events/s; "
        f"peak RSS {result['consumer_peak_rss_mb']} MB"
    )
    if profile:
        print("\nthe driver alone, cProfile of the event loop thread (top 30 by own time):\n" + profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
