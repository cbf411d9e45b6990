"""The outbox relay: publishes what the service's transactions wrote to its ``outbox`` table.

How it keeps its promises:

- **Nothing lost, nothing skipped.** Each round selects the unpublished rows in id order,
  ``WHERE published_at IS NULL ORDER BY id``; there is no "highest id sent" cursor, because
  ids are handed out at INSERT time but rows become visible at COMMIT time: a transaction
  with a lower id may commit after one with a higher id, and a cursor would step over it.
  A row is marked published only after Kafka acknowledged it (acks=all). A row that cannot
  be delivered stays unpublished and is sent again, however long that takes.
- **Order per aggregate.** All rows of one aggregate have the same key, hence go to the same
  partition, and they are sent in id order (one aggregate's transactions are serialised by
  its row lock, so its rows get ids in commit order). The idempotent producer keeps a
  partition's records in the order they were sent, and when a batch fails every later batch
  of that partition fails with it (sequence numbers), so what reached Kafka from one
  producer is always a prefix per partition. Resending the unpublished rows after a failure
  therefore only appends duplicates, which the consumers' inbox skips.
- **At least once, effectively once.** A relay that dies between "Kafka acknowledged" and
  "marked published" sends those rows again on restart: duplicates, never gaps.
- **One active relay per database.** A MariaDB named lock, held on a dedicated connection
  for as long as the relay leads, lets a service run several replicas: one publishes, the
  others wait as standbys and take over when the leader's connection goes away (a crashed
  leader's lock is released by the server when its connection dies).
- **Broker down.** The relay waits: the producer retries a batch for a while; when
  nothing is acknowledged for ``stall_timeout`` (or a delivery fails), the producer is
  abandoned and the same unpublished rows are sent by a fresh one, started with jittered
  exponential backoff (capped at ``max_backoff``). A lost database connection is retried
  the same way. Writers never notice: they only write to the outbox.
- **Throughput.** Selecting the next batch, waiting for Kafka's acknowledgements and
  marking rows published overlap (see :meth:`OutboxRelay._publish_round`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.codec import has_lz4
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.engine import Connection, Engine

from cpshared.clock import utcnow
from cpshared.db import TRANSIENT_DB_ERRORS, database_lock_name
from cpshared.events.tables import outbox
from cpshared.logging import get_logger
from cpshared.timestamps import as_utc

log = get_logger(__name__)

LOCK_PREFIX = "cp-outbox-relay"

FAULT_EXIT_AFTER_PUBLISH_ENV = "CP_FAULT_RELAY_EXIT_AFTER_PUBLISH"
"""TEST-ONLY fault injection: with ``<n>`` set, the process exits with ``os._exit(137)`` right
after the n-th batch was acknowledged by Kafka and BEFORE it is marked published — a SIGKILL
at the worst moment, to prove that consumers see duplicates and apply them once. Never set
it outside a test."""


OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published to Kafka.", ["relay"])
OUTBOX_OLDEST_UNPUBLISHED_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished outbox row (0 when there is none).",
    ["relay"],
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published and acknowledged by Kafka.", ["relay"])
OUTBOX_PUBLISH_BATCH_SECONDS = Histogram(
    "outbox_publish_batch_seconds",
    "Time from selecting a batch of outbox rows to Kafka acknowledging all of them.",
    ["relay"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTBOX_RELAY_IS_LEADER = Gauge(
    "outbox_relay_is_leader", "1 while this relay holds its database's relay lock and publishes.", ["relay"]
)


def producer_options(**overrides: Any) -> dict[str, Any]:
    """The producer the relay uses; the benchmark measures raw aiokafka with the same options.

    - idempotence + acks=all: a retried batch is written once, in order, on all replicas;
    - one big batch per partition (512 KiB): aiokafka has one request in flight per broker
      and one batch in flight per partition, so small batches would serialise round trips;
    - linger 5 ms: the relay sends a whole batch at once, waiting longer gains nothing.
    """
    options: dict[str, Any] = {
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "compression_type": "lz4" if has_lz4() else None,
        "retry_backoff_ms": 250,
        "request_timeout_ms": 40_000,
    }
    options.update(overrides)
    return options


def lock_name(database: str) -> str:
    """The relay lock of one database; named locks are server-wide, so the name carries it."""
    return database_lock_name(LOCK_PREFIX, database)


def kafka_headers(column: Any) -> list[tuple[str, bytes]]:
    """The outbox's JSON headers (``[[name, value], ...]``) as Kafka headers."""
    if not column:
        return []
    return [(str(name), str(value).encode()) for name, value in column]


class OutboxRecord(NamedTuple):
    """One outbox row as it goes to Kafka (a tuple: tens of thousands are built per second)."""

    id: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Backoff:
    """Exponential backoff with full jitter: 0..min(cap, base * 2**n) seconds."""

    def __init__(self, base: float = 0.1, cap: float = 5.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        # Never zero: a retry loop must not spin.
        return max(self.base / 2, self._rng.uniform(0, ceiling))

    def reset(self) -> None:
        self.failures = 0


def next_poll_interval(found: int, batch_size: int, current: float, busy: float, idle: float) -> float:
    """How long to wait before the next select: none after a full batch, longer while idle."""
    if found >= batch_size:
        return 0.0
    if found > 0:
        return busy
    return min(idle, max(busy, current * 2))


@dataclass
class _Batch:
    rows: list[OutboxRecord]
    futures: list[asyncio.Future[Any]]
    started: float

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]


class _Undelivered(Exception):
    """Some rows of a batch were not acknowledged; they stay unpublished and are sent again."""


class OutboxRelay:
    """Publishes one database's outbox to Kafka; run it with :meth:`run`.

    ``name`` labels the metrics and the producer's client id (usually the service name).
    """

    def __init__(
        self,
        engine: Engine,
        bootstrap: str,
        *,
        name: str,
        batch_size: int = 1000,
        poll_interval: float = 0.05,
        idle_poll_interval: float = 0.5,
        standby_poll_interval: float = 1.0,
        leadership_check_interval: float = 1.0,
        gauge_interval: float = 2.0,
        published_retention: timedelta = timedelta(days=7),
        prune_interval: float = 300.0,
        prune_batch: int = 5000,
        stop_grace: float = 10.0,
        stall_timeout: float = 10.0,
        max_backoff: float = 5.0,
        producer_overrides: Mapping[str, Any] | None = None,
        exit_after_publish: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.engine = engine
        self.bootstrap = bootstrap
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.idle_poll_interval = idle_poll_interval
        self.standby_poll_interval = standby_poll_interval
        self.leadership_check_interval = leadership_check_interval
        self.gauge_interval = gauge_interval
        self.published_retention = published_retention
        self.prune_interval = prune_interval
        self.prune_batch = prune_batch
        self.stop_grace = stop_grace
        self.stall_timeout = stall_timeout
        self.max_backoff = max_backoff
        self.producer_overrides = dict(producer_overrides or {})
        self.exit_after_publish = exit_after_publish if exit_after_publish is not None else _fault_from_env()

        self.published = 0
        """Rows this relay published and marked (for tests and the benchmark)."""
        self.batches_published = 0
        self.is_leader = False

        self._producer: Any = None
        self._in_flight: _Batch | None = None
        """Sent, acknowledgements not yet awaited."""
        self._unmarked: list[int] = []
        """Acknowledged by Kafka, not yet marked published."""
        self._marking: asyncio.Task[None] | None = None
        self._marking_ids: list[int] = []
        """Being marked published in the background."""
        self._lock_conn: Connection | None = None
        self._lock_name: str | None = None
        self._leadership_checked = 0.0
        self._last_prune = 0.0
        self._backlog = OUTBOX_BACKLOG.labels(name)
        self._oldest_age = OUTBOX_OLDEST_UNPUBLISHED_AGE.labels(name)
        self._published_counter = OUTBOX_PUBLISHED.labels(name)
        self._batch_seconds = OUTBOX_PUBLISH_BATCH_SECONDS.labels(name)
        self._leader_gauge = OUTBOX_RELAY_IS_LEADER.labels(name)

    # -- the loop ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; then finish the batch in flight, mark it, and close."""
        housekeeping = asyncio.create_task(self._housekeeping(stop), name=f"outbox-relay-housekeeping-{self.name}")
        backoff = Backoff(cap=self.max_backoff)
        pause = self.poll_interval
        try:
            while not stop.is_set():
                try:
                    if not await self._lead(stop):
                        break
                    if self._producer is None:
                        self._producer = await self._start_producer()
                    found = await self._publish_round(stop)
                    backoff.reset()
                    pause = next_poll_interval(
                        found, self.batch_size, pause, self.poll_interval, self.idle_poll_interval
                    )
                except TRANSIENT_DB_ERRORS as exc:
                    delay = backoff.next_delay()
                    log.warning("relay_database_unavailable", relay=self.name, error=str(exc), retry_in=round(delay, 2))
                    # Was the lock's connection lost too? Check before publishing again.
                    self._leadership_checked = 0.0
                    pause = delay
                except (KafkaError, _Undelivered, OSError, TimeoutError) as exc:
                    delay = backoff.next_delay()
                    log.warning("relay_broker_unavailable", relay=self.name, error=repr(exc), retry_in=round(delay, 2))
                    # A producer that failed a batch has a gap in its sequence numbers: every
                    # later batch of that partition would be refused. Start a fresh one.
                    await self._close_producer(abandon=True)
                    pause = delay
                except Exception:
                    delay = backoff.next_delay()
                    log.exception("relay_error", relay=self.name, retry_in=round(delay, 2))
                    await self._close_producer(abandon=True)
                    pause = delay
                if pause > 0:
                    await _wait(stop, pause)
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            drained = False
            try:
                await self._drain(stop)
                drained = True
            except Exception as exc:  # left unmarked: sent again by the next relay, duplicates only
                log.warning("relay_stop_left_rows_unmarked", relay=self.name, error=repr(exc))
            await self._close_producer(abandon=not drained)
            await self._drop_lock_connection(release=True)
            log.info("relay_stopped", relay=self.name, published=self.published)

    async def _publish_round(self, stop: asyncio.Event) -> int:
        """One round of the pipeline; returns how many rows it selected for sending.

        The kinds of work overlap: the next batch is selected (in a thread) while Kafka
        acknowledges the one in flight, and acknowledged rows are marked in the background
        while the next batch is sent — the UPDATE is server time. A select leaves out every
        row that is sent but not yet known to be marked. One producer sends everything in id
        order, and a batch is sent only once the one before it was acknowledged in full, so
        the ordering argument of the module docstring holds across batches.
        """
        in_flight, self._in_flight = self._in_flight, None
        fetching = self._fetch_in_background([*self._not_marked(), *(in_flight.ids if in_flight else ())])
        started = time.perf_counter()
        try:
            if in_flight is not None:
                await self._settle_batch(in_flight, stop)
        except BaseException:
            await _discard(fetching)
            raise
        rows = await fetching
        await self._start_marking(stop)
        if not rows:
            await self._finish_marking(stop)  # idle: nothing to overlap the mark with
            return 0
        self._in_flight = await self._send(rows, started, stop)
        return len(rows)

    def _fetch_in_background(self, leave_out: list[int]) -> asyncio.Task[list[OutboxRecord]]:
        return asyncio.create_task(asyncio.to_thread(self._fetch, leave_out), name=f"outbox-relay-fetch-{self.name}")

    def _not_marked(self) -> list[int]:
        return [*self._marking_ids, *self._unmarked]

    async def _start_marking(self, stop: asyncio.Event) -> None:
        """Mark the acknowledged rows in the background; one mark at a time."""
        await self._wait_marking()
        ids, self._unmarked = self._unmarked, []
        if ids:
            self._marking_ids = ids
            self._marking = asyncio.create_task(self._mark(ids, stop), name=f"outbox-relay-mark-{self.name}")

    async def _wait_marking(self) -> None:
        marking, self._marking = self._marking, None
        try:
            if marking is not None:
                await marking
        finally:
            self._marking_ids = []

    async def _finish_marking(self, stop: asyncio.Event) -> None:
        await self._start_marking(stop)
        await self._wait_marking()

    async def _send(self, rows: list[OutboxRecord], started: float, stop: asyncio.Event) -> _Batch:
        """Hand ``rows`` to the producer, all of them before waiting for any acknowledgement.

        The producer then packs them into one request per partition instead of one round
        trip per row.
        """
        producer = self._producer
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in rows:
                futures.append(await producer.send(row.topic, value=row.value, key=row.key, headers=row.headers))
        except BaseException:
            # What was enqueued before the failure may still be delivered: settle it now, so
            # that a fresh producer never races this one.
            await self._settle_batch(_Batch(rows[: len(futures)], futures, started), stop)
            raise
        return _Batch(rows, futures, started)

    async def _settle_batch(self, batch: _Batch, stop: asyncio.Event) -> None:
        """Wait for ``batch``'s acknowledgements; what was acknowledged is marked next."""
        acknowledged, error = await self._settle(batch.futures, stop)
        self._unmarked += [row.id for row, ok in zip(batch.rows, acknowledged, strict=True) if ok]
        missing = len(batch.rows) - sum(acknowledged)
        if error is not None or missing:
            raise _Undelivered(f"{missing} of {len(batch.rows)} rows not acknowledged: {error!r}")
        self.batches_published += 1
        self._batch_seconds.observe(time.perf_counter() - batch.started)
        if self.exit_after_publish is not None and self.batches_published >= self.exit_after_publish:
            # Let the earlier batches' mark finish, so exactly this batch is left unmarked.
            with contextlib.suppress(Exception):
                await self._wait_marking()
            log.warning("relay_fault_injected_exit", relay=self.name, batch=self.batches_published)
            os._exit(137)

    async def _drain(self, stop: asyncio.Event) -> None:
        """Settle the batch in flight and mark what was acknowledged (stop, lost leadership)."""
        in_flight, self._in_flight = self._in_flight, None
        try:
            if in_flight is not None:
                await self._settle_batch(in_flight, stop)
        finally:
            await self._finish_marking(stop)

    def _fetch(self, leave_out: Sequence[int] = ()) -> list[OutboxRecord]:
        # The hot path, so plain SQL. It walks the NULL range of ix_outbox_unpublished.
        excluded = f"AND id NOT IN ({_id_list(leave_out)}) " if leave_out else ""
        sql = (
            "SELECT id, topic, message_key, headers, envelope FROM outbox "  # noqa: S608 — only ints
            f"WHERE published_at IS NULL {excluded}ORDER BY id LIMIT {int(self.batch_size)}"
        )
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql(sql).all()
        return [
            OutboxRecord(i, topic, key.encode(), envelope, kafka_headers(_json(headers)))
            for i, topic, key, headers, envelope in result
        ]

    async def _settle(self, futures: Sequence[asyncio.Future[Any]], stop: asyncio.Event) -> tuple[list[bool], Any]:
        """Wait for every delivery: (acknowledged per row, first error or None).

        The producer retries what it holds while the broker is briefly away. When nothing
        at all is acknowledged for ``stall_timeout`` the broker is taken to be down: this
        gives up, the producer is abandoned and a fresh one is started with backoff (aiokafka
        would otherwise retry its metadata in a loop without pause, one core at 100 %). A
        stop gives up after its grace period. Either way the rows stay unpublished and are
        sent again.
        """
        if not futures:
            return [], None
        gathered = asyncio.gather(*futures, return_exceptions=True)
        started = last_progress = time.monotonic()
        done_before = 0
        stop_deadline: float | None = None
        reason: str | None = None
        while True:
            finished, _ = await asyncio.wait({gathered}, timeout=0.5)
            if finished:
                break
            now = time.monotonic()
            done_now = sum(1 for f in futures if f.done())
            if done_now > done_before:
                done_before, last_progress = done_now, now
            if now - last_progress >= self.stall_timeout:
                reason = f"no acknowledgement for {now - last_progress:.0f} s: the broker looks unavailable"
            if stop.is_set():
                stop_deadline = stop_deadline or now + self.stop_grace
                if now >= stop_deadline:
                    reason = "stopped while the broker was unavailable"
            if reason is not None:
                log.warning(
                    "relay_gives_up_on_batch", relay=self.name, reason=reason, rows=len(futures), waited=now - started
                )
                gathered.add_done_callback(_consume_result)
                acknowledged = [f.done() and not f.cancelled() and f.exception() is None for f in futures]
                return acknowledged, TimeoutError(reason)
        results = gathered.result()
        errors = [r for r in results if isinstance(r, BaseException)]
        return [not isinstance(r, BaseException) for r in results], errors[0] if errors else None

    async def _mark(self, ids: list[int], stop: asyncio.Event) -> None:
        """Mark ``ids`` published, retrying through a database outage (they are in Kafka already)."""
        backoff = Backoff(cap=self.max_backoff)
        deadline: float | None = None
        while True:
            try:
                await asyncio.to_thread(self._mark_now, ids)
                self.published += len(ids)
                self._published_counter.inc(len(ids))
                return
            except TRANSIENT_DB_ERRORS as exc:
                if stop.is_set():
                    deadline = deadline or time.monotonic() + self.stop_grace
                    if time.monotonic() >= deadline:
                        # Left unmarked, they are sent again by the next relay: duplicates only.
                        raise
                delay = backoff.next_delay()
                log.warning("relay_mark_failed", relay=self.name, rows=len(ids), error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)

    def _mark_now(self, ids: list[int]) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE outbox SET published_at = %s WHERE id IN ({_id_list(ids)})",  # noqa: S608 — only ints
                (utcnow().astimezone(UTC).replace(tzinfo=None),),
            )

    # -- leadership -------------------------------------------------------------------------
    async def _lead(self, stop: asyncio.Event) -> bool:
        """True once this relay holds the lock; waits as a standby until then (False: stop)."""
        if self.is_leader and time.monotonic() - self._leadership_checked < self.leadership_check_interval:
            return True
        announced = False
        while not stop.is_set():
            try:
                leading = await asyncio.to_thread(self._hold_lock)
            except TRANSIENT_DB_ERRORS:
                # The server released the lock with the connection; another relay may lead now.
                await self._drop_lock_connection()
                raise
            self._leadership_checked = time.monotonic()
            if leading:
                if not self.is_leader:
                    log.info("relay_leading", relay=self.name, lock=self._lock_name)
                self._set_leader(True)
                return True
            if self.is_leader:
                # Another relay leads now (this one's lock connection was lost): hand over.
                log.warning("relay_lost_leadership", relay=self.name, lock=self._lock_name)
                with contextlib.suppress(Exception):
                    await self._drain(stop)
                await self._close_producer(abandon=True)
            self._set_leader(False)
            if not announced:
                log.info("relay_standby", relay=self.name, lock=self._lock_name)
                announced = True
            await _wait(stop, self.standby_poll_interval)
        return False

    def _hold_lock(self) -> bool:
        """Take the lock if free, or check that this connection still holds it."""
        if self._lock_conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                database = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
            except Exception:
                conn.close()
                raise
            self._lock_conn, self._lock_name = conn, lock_name(str(database))
        conn, name = self._lock_conn, self._lock_name
        if self.is_leader:
            held = conn.execute(sa.text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()"), {"n": name}).scalar()
            if held == 1:
                return True
        return conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1

    async def _drop_lock_connection(self, release: bool = False) -> None:
        conn, self._lock_conn = self._lock_conn, None
        self._set_leader(False)
        if conn is None:
            return

        def close() -> None:
            try:
                if release:
                    conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": self._lock_name})
            except Exception:  # noqa: S110 — the server releases it with the connection anyway
                pass
            finally:
                with contextlib.suppress(Exception):
                    if not release:
                        conn.invalidate()
                    conn.close()

        await asyncio.to_thread(close)

    def _set_leader(self, leading: bool) -> None:
        self.is_leader = leading
        self._leader_gauge.set(1 if leading else 0)

    # -- the producer -----------------------------------------------------------------------
    async def _start_producer(self) -> Any:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"outbox-relay-{self.name}",
            **producer_options(**self.producer_overrides),
        )
        try:
            await producer.start()
        except BaseException:
            await _close_producer(producer, self.stop_grace, abandon=True)
            raise
        log.info("relay_producer_started", relay=self.name, bootstrap=self.bootstrap)
        return producer

    async def _close_producer(self, abandon: bool = False) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _close_producer(producer, self.stop_grace, abandon=abandon)

    # -- housekeeping: gauges and pruning (the leader's job) --------------------------------
    async def _housekeeping(self, stop: asyncio.Event) -> None:
        """Refresh the backlog gauges every few seconds and prune old published rows.

        A task of its own, so the gauges keep moving while the publishing loop waits for a
        broker that is down — which is when the backlog matters.
        """
        while not stop.is_set():
            if self.is_leader:
                try:
                    await asyncio.to_thread(self._refresh_gauges)
                    if time.monotonic() - self._last_prune >= self.prune_interval:
                        self._last_prune = time.monotonic()
                        pruned = await asyncio.to_thread(self.prune)
                        if pruned:
                            log.info("relay_pruned", relay=self.name, rows=pruned)
                except TRANSIENT_DB_ERRORS as exc:
                    log.warning("relay_housekeeping_failed", relay=self.name, error=str(exc))
                except Exception:
                    log.exception("relay_housekeeping_failed", relay=self.name)
            await _wait(stop, self.gauge_interval)

    def _refresh_gauges(self) -> None:
        # Both walk the (published_at, id) index's NULL range only, however long the history.
        with self.engine.connect() as conn:
            backlog = conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
            oldest = conn.execute(
                sa.select(outbox.c.created_at).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(1)
            ).scalar()
        self._backlog.set(backlog)
        self._oldest_age.set(max(0.0, (utcnow() - as_utc(oldest)).total_seconds()) if oldest else 0.0)

    def prune(self) -> int:
        """Delete published rows older than the retention, a small batch per transaction."""
        cutoff = utcnow() - self.published_retention
        total = 0
        while True:
            with self.engine.begin() as conn:
                deleted = conn.execute(
                    sa.text(
                        "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < :cutoff "
                        "ORDER BY published_at LIMIT :n"
                    ),
                    {"cutoff": cutoff, "n": self.prune_batch},
                ).rowcount
            total += deleted
            if deleted < self.prune_batch:
                return total


def _id_list(ids: Sequence[int]) -> str:
    # Row ids come from the database as ints; int() keeps anything else out of the SQL text.
    return ",".join(str(int(i)) for i in ids)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _fault_from_env() -> int | None:
    value = os.environ.get(FAULT_EXIT_AFTER_PUBLISH_ENV, "").strip()
    return int(value) if value else None


def _consume_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _discard(task: asyncio.Task[Any]) -> None:
    # A select running in a thread cannot be cancelled; let it finish and drop its rows.
    with contextlib.suppress(Exception):
        await task


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` is set, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _close_producer(producer: Any, grace: float, abandon: bool = False) -> None:
    """Stop ``producer``; ``abandon``: without delivering what it still holds.

    aiokafka's ``stop()`` waits for every pending batch, and with the broker away an
    idempotent producer retries forever. aiokafka has no abort, so an abandoned producer
    (or one that cannot flush within ``grace``) has its sender task and client closed
    directly: what it held is dropped, and nothing is lost, because those rows are still
    unpublished in the outbox and are sent again by a fresh producer.
    """
    if not abandon:
        try:
            await asyncio.wait_for(producer.stop(), timeout=grace)
            return
        except TimeoutError:
            log.warning("relay_producer_abandoned", reason="pending batches could not be delivered")
        except Exception as exc:
            log.warning("relay_producer_stop_failed", error=repr(exc))
    producer._closed = True  # what stop() would have set; aiokafka warns about unclosed producers
    sender = getattr(producer, "_sender", None)
    with contextlib.suppress(Exception):
        if sender is not None:
            await asyncio.wait_for(sender.close(), timeout=grace)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.client.close(), timeout=grace)
