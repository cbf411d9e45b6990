"""The Kafka driver of a projection: a batch consumer on aiokafka, effectively once.

The :class:`~cpshared.events.projection.ProjectionRunner` does the database side (a batch in
one transaction with its inbox rows, retries, dead letters). This module feeds it from
Kafka and decides when offsets may be committed:

- One ``AIOKafkaConsumer`` per projection, in the consumer group ``projection.name`` (which
  is also the inbox's consumer column), subscribed to all the projection's streams, with
  auto-commit OFF. Records of one aggregate share a key, so a partition, and are applied in
  the order Kafka delivered them.
- The loop: ``getmany`` (at most ``max_batch`` records, topped up for ``batch_within``
  seconds while it is not full), apply the batch and its inbox rows in ONE database
  transaction (in a thread), and only then note the next offsets as committable. Committable
  offsets are committed to Kafka every ``commit_interval`` seconds, before partitions are
  given up and at a graceful stop. So a crash between the database commit and the offset
  commit redelivers events whose inbox rows exist: they are skipped as duplicates.
- The body never leaves a batch half-done: transient database errors are retried on the
  same batch until the database is back; anything else ends the process at once with
  ``os._exit`` (nothing of the batch was committed, neither rows nor offsets), and Kafka
  redelivers it to the next process.
- Rebalances: aiokafka awaits the :class:`_Rebalance` listener's ``on_partitions_revoked``
  before the group rejoins. It takes the batch lock, so it waits until the batch in flight
  is committed to the database, then commits the committable offsets and forgets the
  revoked partitions. A batch fetched before the revocation is therefore either fully
  applied and committed, or never started.
- A graceful stop (SIGTERM): the batch in flight finishes, its offsets are committed, and
  the consumer leaves the group. If the database stays away longer than ``stop_grace``, the
  process exits without committing offsets (same rule as above).
- Back pressure and flat memory: a batch is fetched only when the previous one is
  committed; aiokafka prefetches at most ``fetch_max_bytes`` per partition and hands over
  at most ``max_poll_records`` per call.

faust-streaming stays in the project for what it is built for — windowed tables and stream
processors (monitoring's alert evaluation) — not for projections: its per-record path
(tasks, locks, acks per record) cost ~80 µs per event, an order of magnitude above this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.engine import Engine

from cpshared.db import TRANSIENT_DB_ERRORS, make_engine, wait_for_database
from cpshared.events.projection import BatchResult, Projection, ProjectionRunner, RawRecord
from cpshared.logging import get_logger

log = get_logger(__name__)

EXIT_UNCOMMITTED_BATCH = 75
"""Exit status when the process must end with a batch that is not committed (EX_TEMPFAIL)."""

EVENTS_APPLIED = Counter(
    "consumer_events_applied_total", "Events a projection applied (effect and inbox row committed).", ["consumer"]
)
EVENTS_DUPLICATE = Counter(
    "consumer_events_duplicate_total", "Redelivered events skipped because the inbox already had them.", ["consumer"]
)
EVENTS_DEAD_LETTERED = Counter(
    "consumer_events_dead_lettered_total", "Events sent to the dead-letter topic and table.", ["consumer"]
)
EVENTS_IGNORED = Counter(
    "consumer_events_ignored_total", "Events of a type the projection has no handler for.", ["consumer"]
)
BATCH_RETRIES = Counter(
    "consumer_batch_retries_total", "Batches retried because the database was unreachable.", ["consumer"]
)
BATCH_APPLY_SECONDS = Histogram(
    "consumer_batch_apply_seconds",
    "Time to apply one batch in the database, commit included.",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "consumer_batch_size",
    "Records per applied batch.",
    ["consumer"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
CONSUMER_LAG = Gauge(
    "consumer_lag_records",
    "Records on the partition after the last one applied (high watermark - next offset).",
    ["consumer", "topic", "partition"],
)
OFFSET_COMMITS_FAILED = Counter(
    "consumer_offset_commits_failed_total",
    "Offset commits Kafka refused (retried at the next interval; the inbox absorbs redeliveries).",
    ["consumer"],
)


@dataclass(frozen=True)
class ConsumerTuning:
    """How a consumer batches, commits and retries; the defaults suit the platform."""

    max_batch: int = 2000
    """Records per database transaction at most."""
    batch_within: float = 0.2
    """Seconds to wait for a batch to fill before applying what there is."""
    commit_interval: float = 1.0
    """Seconds between offset commits (only of batches the database committed)."""
    fetch_max_bytes: int = 4 * 1024 * 1024
    """Bytes one fetch may return per partition."""
    max_poll_records: int = 2000
    """Records one ``getmany`` hands over at most."""
    session_timeout: float = 30.0
    instance_id: str | None = None
    """Static group membership: a restarted process with the same id gets its partitions back
    at once instead of waiting for the session of the old one to time out. Unique per replica."""
    max_attempts: int = 3
    """Attempts of a failing event before it is dead-lettered."""
    retry_backoff: float = 0.2
    db_retry_initial: float = 0.5
    db_retry_max: float = 10.0
    stop_grace: float = 20.0
    """Seconds a graceful stop waits for the batch in flight to commit; past that the process
    exits without committing its offsets."""
    progress_interval: float = 10.0
    """Seconds between progress log lines."""
    uvloop: bool = True
    """Run on uvloop when it is installed."""


def to_record(record: ConsumerRecord[bytes, bytes]) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Finishes the batch in flight and commits its offsets before partitions are given up."""

    def __init__(self, consumer: ProjectionConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._consumer.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions_assigned",
            consumer=self._consumer.name,
            partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
        )


class ProjectionConsumer:
    """Runs ``projection`` as a member of the Kafka consumer group ``projection.name``."""

    def __init__(
        self,
        projection: Projection,
        engine: Engine,
        bootstrap: str,
        tuning: ConsumerTuning | None = None,
        *,
        die: Callable[[int], None] = os._exit,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.bootstrap = bootstrap
        self.tuning = tuning or ConsumerTuning()
        self.runner = ProjectionRunner(
            engine, projection, max_attempts=self.tuning.max_attempts, retry_backoff=self.tuning.retry_backoff
        )
        self._die_now = die
        self._in_flight: list[RawRecord] = []
        self._committable: dict[TopicPartition, int] = {}
        self._batch_lock = asyncio.Lock()
        self._last_commit = time.monotonic()
        self._totals = BatchResult()
        self._last_progress = time.monotonic()
        self._applied_metric = EVENTS_APPLIED.labels(self.name)
        self._duplicate_metric = EVENTS_DUPLICATE.labels(self.name)
        self._dead_metric = EVENTS_DEAD_LETTERED.labels(self.name)
        self._ignored_metric = EVENTS_IGNORED.labels(self.name)
        self._retry_metric = BATCH_RETRIES.labels(self.name)
        self._latency_metric = BATCH_APPLY_SECONDS.labels(self.name)
        self._size_metric = BATCH_SIZE.labels(self.name)
        self._commit_failed_metric = OFFSET_COMMITS_FAILED.labels(self.name)
        self.kafka: AIOKafkaConsumer | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        tuning = self.tuning
        session_ms = int(tuning.session_timeout * 1000)
        return AIOKafkaConsumer(
            bootstrap_servers=[s.strip() for s in self.bootstrap.split(",") if s.strip()],
            client_id=f"{self.name}-consumer",
            group_id=self.name,
            group_instance_id=tuning.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=tuning.max_poll_records,
            max_partition_fetch_bytes=tuning.fetch_max_bytes,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=min(3000, session_ms // 3),
            # A batch that waits for the database (retried until it is back) must not cost the
            # partitions: the poll interval bounds the time between two getmany calls.
            max_poll_interval_ms=max(300_000, int(tuning.stop_grace * 1000) * 2),
        )

    # -- the loop ---------------------------------------------------------------------------
    async def _next_batch(self, kafka: AIOKafkaConsumer, stop: asyncio.Event) -> list[RawRecord]:
        """Up to ``max_batch`` records: what is there within a second, topped up for ``batch_within``."""
        tuning = self.tuning
        fetched = await kafka.getmany(timeout_ms=1000, max_records=tuning.max_batch)
        records = [to_record(r) for part in fetched.values() for r in part]
        deadline = time.monotonic() + tuning.batch_within
        while records and len(records) < tuning.max_batch and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await kafka.getmany(timeout_ms=int(remaining * 1000), max_records=tuning.max_batch - len(records))
            if not more:
                break
            records.extend(to_record(r) for part in more.values() for r in part)
        # getmany groups by partition; the runner needs each partition's records in order, which
        # they are. Across partitions order carries no meaning.
        return records

    async def _consume(self, kafka: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            records = await self._next_batch(kafka, stop)
            if not records:
                await self._commit_if_due(kafka)
                continue
            async with self._batch_lock:
                assigned = kafka.assignment()
                # A record of a partition revoked while it was being fetched: the next owner reads it.
                records = [r for r in records if TopicPartition(r.topic, r.partition) in assigned]
                if not records:
                    continue
                await self._apply_until_committed(records)
                for record in records:
                    self._committable[TopicPartition(record.topic, record.partition)] = record.offset + 1
            await self._commit_if_due(kafka)

    async def _apply_until_committed(self, records: list[RawRecord]) -> None:
        self._in_flight = records
        delay = self.tuning.db_retry_initial
        while True:
            job = asyncio.ensure_future(asyncio.to_thread(self._apply, records))
            try:
                result = await asyncio.shield(job)
            except asyncio.CancelledError:
                # Stopping mid-batch: a thread cannot be interrupted, so learn how the
                # transaction ended. Committed: the offsets may be committed. Not: die.
                result = await self._outcome_after_cancel(job)
                self._account(records, result)
                self._in_flight = []
                raise
            except TRANSIENT_DB_ERRORS as exc:
                self._retry_metric.inc()
                log.warning(
                    "batch_retry_database_unavailable",
                    consumer=self.name,
                    size=len(records),
                    retry_in=round(delay, 2),
                    error=str(exc.orig if hasattr(exc, "orig") else exc)[:300],
                )
                try:
                    await asyncio.sleep(delay)
                except asyncio.CancelledError:
                    self._die("stopped while the database was unavailable")
                    raise
                delay = min(delay * 2, self.tuning.db_retry_max)
                continue
            except Exception:
                log.exception("batch_failed_unexpectedly", consumer=self.name, size=len(records))
                self._die("the batch failed with an error that is not a database outage")
                raise
            self._account(records, result)
            self._in_flight = []
            return

    async def _outcome_after_cancel(self, job: asyncio.Future[BatchResult]) -> BatchResult:
        while not job.done():
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                continue
            except Exception:
                break
        if job.cancelled() or job.exception() is not None:
            self._die("stopped with a batch the database did not commit")
        return job.result()

    def _apply(self, records: list[RawRecord]) -> BatchResult:
        started = time.perf_counter()
        result = self.runner.apply_batch(records)
        self._latency_metric.observe(time.perf_counter() - started)
        return result

    # -- offsets ----------------------------------------------------------------------------
    async def _commit_if_due(self, kafka: AIOKafkaConsumer) -> None:
        if self._committable and time.monotonic() - self._last_commit >= self.tuning.commit_interval:
            await self._commit(kafka)

    async def _commit(self, kafka: AIOKafkaConsumer, only: set[TopicPartition] | None = None) -> None:
        offsets = {
            tp: OffsetAndMetadata(offset, "") for tp, offset in self._committable.items() if only is None or tp in only
        }
        self._last_commit = time.monotonic()
        if not offsets:
            return
        try:
            await kafka.commit(offsets)
        except Exception as exc:  # a rebalance under way, the coordinator moved: next time
            self._commit_failed_metric.inc()
            log.warning("offset_commit_failed", consumer=self.name, error=repr(exc)[:300])
            return
        for tp, meta in offsets.items():
            if self._committable.get(tp) == meta.offset:
                del self._committable[tp]

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """The batch in flight finishes first (its rows committed), then its offsets are committed."""
        async with self._batch_lock:
            if self.kafka is not None and revoked:
                await self._commit(self.kafka, revoked)
            for tp in revoked:
                self._committable.pop(tp, None)
        if revoked:
            log.info(
                "partitions_revoked",
                consumer=self.name,
                partitions=sorted(f"{tp.topic}/{tp.partition}" for tp in revoked),
            )

    def _die(self, why: str) -> None:
        records = self._in_flight
        first = records[0] if records else None
        log.error(
            "consumer_exiting_without_commit",
            consumer=self.name,
            reason=why,
            size=len(records),
            first=f"{first.topic}/{first.partition}@{first.offset}" if first else None,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # Leaving any other way could commit offsets of a batch the database did not commit.
        self._die_now(EXIT_UNCOMMITTED_BATCH)

    # -- bookkeeping ------------------------------------------------------------------------
    def _account(self, records: Sequence[RawRecord], result: BatchResult) -> None:
        self._size_metric.observe(len(records))
        self._applied_metric.inc(result.applied)
        self._duplicate_metric.inc(result.duplicates)
        self._dead_metric.inc(result.dead_lettered)
        self._ignored_metric.inc(result.ignored)
        totals = self._totals
        totals.applied += result.applied
        totals.duplicates += result.duplicates
        totals.dead_lettered += result.dead_lettered
        totals.ignored += result.ignored
        if result.duplicates:
            log.info(
                "duplicates_skipped",
                consumer=self.name,
                duplicates=result.duplicates,
                applied=result.applied,
                first=f"{records[0].topic}/{records[0].partition}@{records[0].offset}",
            )
        self._update_lag(records)
        now = time.monotonic()
        if now - self._last_progress >= self.tuning.progress_interval:
            self._last_progress = now
            self.log_progress()

    def _update_lag(self, records: Sequence[RawRecord]) -> None:
        if self.kafka is None:
            return
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = record.offset
        for (topic, partition), offset in last.items():
            try:
                highwater = self.kafka.highwater(TopicPartition(topic, partition))
            except Exception as exc:  # not known yet, or the partition was just revoked
                log.debug("lag_unknown", consumer=self.name, topic=topic, partition=partition, error=repr(exc))
                continue
            if highwater is not None:
                CONSUMER_LAG.labels(self.name, topic, str(partition)).set(max(0, highwater - offset - 1))

    def log_progress(self) -> None:
        totals = self._totals
        log.info(
            "consumer_progress",
            consumer=self.name,
            applied=totals.applied,
            duplicates=totals.duplicates,
            dead_lettered=totals.dead_lettered,
            ignored=totals.ignored,
        )

    # -- running ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        """Consume until ``stop`` is set (0) or the Kafka client fails (1)."""
        log.info(
            "consumer_starting",
            consumer=self.name,
            topics=[t.name for t in self.projection.topics],
            event_loop=type(asyncio.get_running_loop()).__module__,
        )
        kafka = self.kafka = self._make_consumer()
        kafka.subscribe([t.name for t in self.projection.topics], listener=_Rebalance(self))
        await kafka.start()
        loop_task = asyncio.ensure_future(self._consume(kafka, stop))
        stop_task = asyncio.ensure_future(stop.wait())
        status = 0
        try:
            await asyncio.wait({loop_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if loop_task.done() and loop_task.exception() is not None:
                log.error("consumer_crashed", consumer=self.name, reason=repr(loop_task.exception()))
                status = 1
            else:
                log.info("consumer_stopping", consumer=self.name)
            return status
        finally:
            stop_task.cancel()
            if not loop_task.done():
                # The loop stops at its next await: a getmany is cancelled at once; a batch being
                # applied is waited for (its thread cannot be interrupted), up to the grace.
                loop_task.cancel()
                done, _ = await asyncio.wait({loop_task}, timeout=self.tuning.stop_grace)
                if not done:
                    self._die(f"the batch in flight did not commit within the stop grace of {self.tuning.stop_grace}s")
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    loop_task.result()
            if status == 0:
                with contextlib.suppress(Exception):
                    await self._commit(kafka)
            await kafka.stop()
            self.log_progress()


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        log.info("uvloop_not_installed", consequence="running on the standard asyncio loop")
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_consumer(
    projection: Projection,
    engine_url: str,
    bootstrap: str,
    *,
    tuning: ConsumerTuning | None = None,
    pool_size: int = 2,
) -> int:
    """Run ``projection`` until SIGTERM or SIGINT; returns the process exit status.

    For a process entrypoint: logging and metrics are the caller's (``start_process``).
    """
    engine = make_engine(engine_url, pool_size=pool_size)
    try:
        wait_for_database(engine)

        async def main() -> int:
            consumer = ProjectionConsumer(projection, engine, bootstrap, tuning)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            return await consumer.run(stop)

        if tuning is None or tuning.uvloop:
            use_uvloop()
        return asyncio.run(main())
    finally:
        engine.dispose()
