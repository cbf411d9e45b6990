"""Relay benchmark: raw aiokafka produce rate vs. the outbox relay's publish rate.

(a) raw: ``n`` records shaped exactly like outbox rows (same key, value and headers) sent
    with the relay's producer options (idempotent, acks=all), all sent then all awaited;
(b) relay: the same ``n`` records pre-inserted into the outbox, drained by OutboxRelay.

Both go to a scratch topic that is deleted afterwards. ``bench_relay`` works in the
database it is given: it creates the outbox table there if missing and refuses to run if
that outbox already holds unpublished rows (it would publish them). ``python
bench/relay_bench.py`` without ``--database-url`` makes a scratch database on the local
MariaDB (`cloudctl up --infra-only`) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cloudplatform.ops.v1 import canary_pb2
from cpshared.db import make_engine
from cpshared.events.catalog import CANARY_EMITTED
from cpshared.events.envelope import new_event
from cpshared.events.outbox import outbox_row, write_outbox_rows
from cpshared.events.relay import OutboxRelay, producer_options
from cpshared.events.tables import outbox
from cpshared.logging import configure_logging
from cpshared.topics import Topic, TopicKind

PARTITIONS = 6  # as a domain stream
AGGREGATES = 1000


def _rows(topic: Topic, n: int) -> list[dict[str, Any]]:
    versions = [0] * AGGREGATES
    rows = []
    for i in range(n):
        a = i % AGGREGATES
        versions[a] += 1
        event = new_event(
            CANARY_EMITTED,
            producer="bench",
            aggregate_id=f"bench-{a}",
            aggregate_version=versions[a],
            payload=canary_pb2.CanaryEmitted(note="bench", sequence=i + 1, run_size=n, run_id="relay-bench"),
            topic=topic,
        )
        rows.append(outbox_row(event))
    return rows


async def _admin(bootstrap: str, create: list[str] | None = None, delete: list[str] | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in create])
        if delete:
            await admin.delete_topics(delete)
    finally:
        await admin.close()


async def raw_produce_rate(bootstrap: str, topic: str, rows: list[dict[str, Any]]) -> float:
    messages = [(r["message_key"].encode(), r["envelope"], [(k, v.encode()) for k, v in r["headers"]]) for r in rows]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **producer_options())
    await producer.start()
    try:
        # Warm up the connection and the topic's metadata outside the measurement.
        await producer.send_and_wait(topic, value=messages[0][1], key=messages[0][0], headers=messages[0][2])
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in messages]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return len(messages) / elapsed


async def relay_publish_rate(engine: sa.Engine, bootstrap: str, n: int, batch_size: int = 1000) -> float:
    relay = OutboxRelay(engine, bootstrap, name="bench", batch_size=batch_size)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    try:
        while relay.published < n:
            if task.done():
                task.result()
                raise RuntimeError("the relay stopped before draining the outbox")
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await task
    return n / elapsed


async def bench_relay(engine_url: str, bootstrap: str, n: int = 100_000) -> dict[str, float]:
    """Events/s of raw aiokafka and of the relay on ``n`` identical records, and their ratio."""
    engine = make_engine(engine_url, pool_size=5)
    raw_topic, relay_topic = (f"bench.{uuid.uuid4().hex[:8]}.{kind}" for kind in ("raw", "relay"))
    topic = Topic(name=relay_topic, kind=TopicKind.DOMAIN, partitions=PARTITIONS)
    await _admin(bootstrap, create=[raw_topic, relay_topic])
    try:
        outbox.create(engine, checkfirst=True)
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
        if waiting:
            raise RuntimeError(f"the outbox holds {waiting} unpublished rows; benchmark on a scratch database")
        rows = _rows(topic, n)
        raw = await raw_produce_rate(bootstrap, raw_topic, rows)
        chunk = 5000
        for start in range(0, n, chunk):
            with engine.begin() as conn:
                write_outbox_rows(conn, rows[start : start + chunk])
        try:
            relay = await relay_publish_rate(engine, bootstrap, n)
        finally:
            with engine.begin() as conn:
                conn.execute(outbox.delete().where(outbox.c.topic == relay_topic))
    finally:
        engine.dispose()
        await _admin(bootstrap, delete=[raw_topic, relay_topic])
    return {
        "events": float(n),
        "raw_produce_events_per_s": round(raw),
        "relay_publish_events_per_s": round(relay),
        "relay_to_raw_ratio": round(relay / raw, 3),
    }


def scratch_database_url() -> contextlib.AbstractContextManager[str]:
    """A throwaway database and user on the checkout's MariaDB."""
    from cloudctl.infra.mariadb import MariaDB
    from cloudctl.paths import LocalPaths

    return MariaDB(LocalPaths().root).scratch_database("cp_bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", help="a scratch database (default: make one on the local MariaDB)")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("-n", type=int, default=100_000)
    args = parser.parse_args()
    configure_logging("relay-bench", "WARNING", json=False)  # the figures, not the relay's chatter
    if args.database_url:
        result = asyncio.run(bench_relay(args.database_url, args.bootstrap, args.n))
    else:
        with scratch_database_url() as url:
            result = asyncio.run(bench_relay(url, args.bootstrap, args.n))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
