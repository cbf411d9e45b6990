"""The Kafka driver of a projection: one faust-streaming app per projection, effectively once.

The :class:`~cpshared.events.projection.ProjectionRunner` does the database side (a batch in
one transaction with its inbox rows, retries, dead letters). This module feeds it from
Kafka and decides when offsets may be committed:

- One faust app per projection; its id is the projection's name, which is the Kafka
  consumer group and the inbox's consumer column. One agent, concurrency 1, over all the
  projection's streams: records of one aggregate share a key, so a partition, and are
  applied in the order Kafka delivered them.
- Batches come from ``Stream.take_events(max_batch, within)``. In faust-streaming 0.15.3
  (``faust/streams.py``, ``Stream.take_events``) the generator sets ``enable_acks = False``
  and acks the events it yielded in the ``finally`` that follows ``yield list(events)``,
  i.e. only when the ``async for`` body asks for the next batch -- after our database
  commit. Only acked offsets are committable (``Consumer.ack`` fills ``_acked``;
  ``Consumer._new_offset`` commits the highest *contiguous* acked offset + 1), and the
  commit itself runs on a timer (``broker_commit_interval``) or on stop/rebalance. So a
  crash between the database commit and the offset commit redelivers events whose inbox
  rows exist: they are skipped as duplicates.
- That same ``finally`` also runs when the generator is closed for any other reason --
  the body raised, the agent was cancelled, ``Stream.on_stop`` closes leftover buffering
  generators -- and then acks a batch that may NOT have been committed. Hence the rule
  here: the body never leaves with an uncommitted batch. Transient database errors are
  retried on the same batch until the database is back; anything else ends the process at
  once with ``os._exit``, before any offset can be committed, and Kafka redelivers the
  batch to the next process.
- A graceful stop (SIGTERM): faust's ``App._stop_consumer`` stops fetching and then waits
  (``Consumer.wait_empty``) until every record handed to the agent is acked, so the batch in
  flight commits and its offsets with it. If the database stays away longer than
  ``stop_grace``, the process exits without acking (same rule as above).
- Rebalances: faust pauses, clears its queues and also waits for the agent's records to be
  acked before giving partitions up; records of a stale generation that are still queued
  are dropped without an ack by the Cython stream iterator (``faust/_cython/streams.pyx``,
  ``_prepare_event``). Do not set NO_CYTHON: the pure-Python iterator (``_py_aiter``) acks
  such skipped records.
- Memory stays flat: at most ``stream_buffer_maxsize`` records wait in faust's queue, at
  most ``max_batch`` in the batch being applied, a poll hands over at most
  ``max_poll_records`` and a fetch holds at most ``fetch_max_bytes`` per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
from faust import Stream
from faust.types import TP, EventT, StreamT
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


@dataclass(frozen=True)
class ConsumerTuning:
    """How a consumer batches, buffers, commits and retries; the defaults suit the platform."""

    max_batch: int = 2000
    """Records per database transaction at most."""
    batch_within: float = 0.2
    """Seconds to wait for a batch to fill before applying what there is."""
    commit_interval: float = 1.0
    """Seconds between offset commits (only of batches the database committed)."""
    buffer_maxsize: int = 8192
    """Records faust may hold ahead of the agent (back pressure beyond that)."""
    fetch_max_bytes: int = 4 * 1024 * 1024
    """Bytes one fetch may return per partition."""
    max_poll_records: int = 2000
    """Records one poll hands to faust at most; unbounded, one poll turns every prefetched
    byte of every partition into Python objects at once."""
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
    """Seconds a graceful stop waits for the batch in flight to commit (faust waits for every
    record it handed out to be acked before it stops); past that the process exits unacked."""
    progress_interval: float = 10.0
    """Seconds between progress log lines."""
    uvloop: bool = True
    """Run on uvloop when it is installed: faust's per-record path is mostly event-loop work."""


def to_record(event: EventT[Any]) -> RawRecord:
    message = event.message
    headers = message.headers
    return RawRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        # aiokafka hands over a sequence of (name, value); faust's type also allows a mapping.
        headers=tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers or ()),
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
        self.tuning = tuning or ConsumerTuning()
        self.runner = ProjectionRunner(
            engine, projection, max_attempts=self.tuning.max_attempts, retry_backoff=self.tuning.retry_backoff
        )
        self._die_now = die
        self._in_flight: list[RawRecord] = []
        self._totals = BatchResult()
        self._last_progress = time.monotonic()
        self._applied_metric = EVENTS_APPLIED.labels(self.name)
        self._duplicate_metric = EVENTS_DUPLICATE.labels(self.name)
        self._dead_metric = EVENTS_DEAD_LETTERED.labels(self.name)
        self._ignored_metric = EVENTS_IGNORED.labels(self.name)
        self._retry_metric = BATCH_RETRIES.labels(self.name)
        self._latency_metric = BATCH_APPLY_SECONDS.labels(self.name)
        self._size_metric = BATCH_SIZE.labels(self.name)
        self.app = self._make_app(bootstrap)

    def _make_app(self, bootstrap: str) -> faust.App:
        tuning = self.tuning
        app = faust.App(
            self.name,
            broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()],
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            # No tables, so no changelogs, no assignor leader topic, and faust creates no topics:
            # topics are declared in cpshared.topics and created by `cloudctl topics --ensure`.
            topic_disable_leader=True,
            topic_allow_declare=False,
            store="memory://",
            autodiscover=False,
            # faust makes a data directory even without tables (and writes nothing to it): one
            # shared, empty directory, out of the working directory.
            datadir=Path(tempfile.gettempdir()) / "cp-consumers",
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=tuning.commit_interval,
            broker_commit_every=max(tuning.max_batch * 5, 10_000),
            stream_buffer_maxsize=tuning.buffer_maxsize,
            consumer_max_fetch_size=tuning.fetch_max_bytes,
            broker_max_poll_records=tuning.max_poll_records,
            broker_session_timeout=tuning.session_timeout,
            broker_heartbeat_interval=min(3.0, tuning.session_timeout / 3),
            consumer_group_instance_id=tuning.instance_id,
        )
        topic = app.topic(
            *(t.name for t in self.projection.topics),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        app.agent(topic, name=f"{self.name}.apply", concurrency=1)(self._consume)
        return app

    # -- the agent --------------------------------------------------------------------------
    async def _consume(self, stream: StreamT[bytes]) -> None:
        # take_events is on faust's Stream, not (yet) on the StreamT interface agents are typed with.
        batches: AsyncIterator[Sequence[EventT[Any]]] = cast(Stream[bytes], stream).take_events(
            self.tuning.max_batch, within=self.tuning.batch_within
        )
        async for events in batches:
            # Returning from this body is what lets take_events ack these events.
            await self._apply_until_committed([to_record(event) for event in events])

    async def _apply_until_committed(self, records: list[RawRecord]) -> None:
        self._in_flight = records
        delay = self.tuning.db_retry_initial
        while True:
            job = asyncio.ensure_future(asyncio.to_thread(self._apply, records))
            try:
                result = await asyncio.shield(job)
            except asyncio.CancelledError:
                # Stopping mid-batch: a thread cannot be interrupted, so learn how the
                # transaction ended. Committed: returning lets faust ack it. Not: die unacked.
                result = await self._outcome_after_cancel(job, records)
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

    async def _outcome_after_cancel(self, job: asyncio.Future[BatchResult], records: list[RawRecord]) -> BatchResult:
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

    def _die(self, why: str) -> None:
        records = self._in_flight
        first = records[0] if records else None
        log.error(
            "consumer_exiting_without_ack",
            consumer=self.name,
            reason=why,
            size=len(records),
            first=f"{first.topic}/{first.partition}@{first.offset}" if first else None,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # Leaving any other way would run take_events' finally, which acks the batch.
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
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = record.offset
        consumer = self.app.consumer
        for (topic, partition), offset in last.items():
            try:
                highwater = consumer.highwater(TP(topic, partition))
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
        """Consume until ``stop`` is set (0) or faust crashes (1)."""
        log.info(
            "consumer_starting",
            consumer=self.name,
            topics=[t.name for t in self.projection.topics],
            event_loop=type(asyncio.get_running_loop()).__module__,
        )
        await self.app.start()
        try:
            while not stop.is_set():
                if self.app.crashed:
                    log.error("consumer_crashed", consumer=self.name, reason=repr(self.app.crash_reason))
                    return 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
            log.info("consumer_stopping", consumer=self.name)
            return 0
        finally:
            # faust's stop first waits until every record it handed to the agent is acked: the
            # batch in flight gets its chance to commit. A database that stays away would make
            # that wait endless, so past the grace period the process leaves without acking.
            stopping = asyncio.ensure_future(self.app.stop())
            try:
                await asyncio.wait_for(asyncio.shield(stopping), timeout=self.tuning.stop_grace)
            except TimeoutError:
                self._die(f"the batch in flight did not commit within the stop grace of {self.tuning.stop_grace}s")
            self.log_progress()


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        log.info("uvloop_not_installed", consequence="running on the standard asyncio loop")
        return
    # A policy, not just the main loop: faust runs its Kafka client on a loop of its own, in a thread.
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
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # faust and mode narrate every service start and stop at INFO; keep their warnings.
        for name in ("faust", "mode"):
            logging.getLogger(name).setLevel(logging.WARNING)
    engine = make_engine(engine_url, pool_size=pool_size)
    try:
        wait_for_database(engine)

        async def main() -> int:
            # Built inside the running loop, so faust and mode bind to it and to nothing else.
            consumer = ProjectionConsumer(projection, engine, bootstrap, tuning)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            return await consumer.run(stop)

        if tuning is None or tuning.uvloop:
            _use_uvloop()
        return asyncio.run(main())
    finally:
        engine.dispose()
