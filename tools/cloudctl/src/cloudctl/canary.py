"""Canary events: check a service's event pipeline end to end on the running stack.

A run writes N ``ops.canary_emitted`` events into the service's outbox (with the
service's own database user, exactly as its handlers would), then watches the service's
stream until all N arrived — so it proves the outbox, the relay and the broker together,
and reports how long the trip took.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from cloudplatform.ops.v1 import canary_pb2
from cpshared.db import make_engine
from cpshared.events.catalog import CANARY_EMITTED
from cpshared.events.envelope import HEADER_EVENT_TYPE, new_event, new_event_id, parse_envelope
from cpshared.events.outbox import write_events
from cpshared.kafka_admin import topic_partitions
from cpshared.topics import SERVICE_STREAMS


@dataclass
class CanaryRun:
    run_id: str
    service: str
    topic: str
    sent: int
    received: int
    seconds: float

    @property
    def complete(self) -> bool:
        return self.received == self.sent


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    partitions = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def _await_canaries(
    bootstrap: str, start: dict[TopicPartition, int], run_id: str, count: int, wait_seconds: float
) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: set[int] = set()
    try:
        consumer.assign(list(start))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        deadline = time.monotonic() + wait_seconds
        while len(seen) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    if headers.get(HEADER_EVENT_TYPE) != CANARY_EMITTED.event_type.encode() or record.value is None:
                        continue
                    payload = canary_pb2.CanaryEmitted()
                    parse_envelope(record.value).payload.Unpack(payload)
                    if payload.run_id == run_id:
                        seen.add(payload.sequence)
        return len(seen)
    finally:
        await consumer.stop()


def send_canaries(
    service: str, database_url: str, bootstrap: str, count: int, note: str = "", timeout: float = 60.0
) -> CanaryRun:
    stream = SERVICE_STREAMS.get(service)
    if stream is None:
        raise SystemExit(f"{service} has no stream of its own to send canaries on")
    run_id = new_event_id()
    start = asyncio.run(_end_offsets(bootstrap, stream.name))
    events = [
        new_event(
            CANARY_EMITTED,
            producer=service,
            aggregate_id=f"canary-{run_id}",
            aggregate_version=i,
            payload=canary_pb2.CanaryEmitted(note=note, sequence=i, run_size=count, run_id=run_id),
        )
        for i in range(1, count + 1)
    ]
    engine = make_engine(database_url, pool_size=1)
    began = time.monotonic()
    try:
        with engine.begin() as conn:
            write_events(conn, events)
    finally:
        engine.dispose()
    received = asyncio.run(_await_canaries(bootstrap, start, run_id, count, timeout))
    return CanaryRun(run_id, service, stream.name, count, received, time.monotonic() - began)
