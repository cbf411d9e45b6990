"""Projections: state built from event streams, applied effectively once.

A projection declares the streams it reads, the tables it owns and a handler per event
type. :class:`ProjectionRunner` applies a batch of Kafka records in ONE database
transaction together with the batch's inbox rows, so an event that Kafka delivers again
(after a crash, a rebalance, a relay that published twice) finds its inbox row and is
skipped. The driver (the Kafka consumer, or a replay) commits offsets only after
``apply_batch`` returned, i.e. after the database commit.

A handler that fails is retried a bounded number of times with backoff, alone in its own
transaction; if it still fails the event is dead-lettered: a ``dead_letters`` row and a
record for the stream's dead-letter topic (through the outbox, in the same transaction),
and the projection moves on. Losing the database connection is not the event's fault:
that error goes to the driver, which retries the whole batch until the database is back.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cpshared.clock import utcnow
from cpshared.db import is_transient_db_error
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    ReceivedEvent,
    event_id_bytes,
    parse_envelope,
)
from cpshared.events.outbox import write_outbox_rows
from cpshared.events.registry import EventRegistry
from cpshared.events.tables import dead_letters, inbox
from cpshared.logging import get_logger
from cpshared.topics import BY_NAME, Topic, dead_letter_topic

log = get_logger(__name__)

HandlerFn = Callable[[Any, "ApplyContext", ReceivedEvent], None]
F = TypeVar("F", bound=HandlerFn)


def handles(*event_types: str) -> Callable[[F], F]:
    """Mark a projection method as the handler of ``event_types``."""

    def mark(fn: F) -> F:
        fn.__dict__["handles_event_types"] = event_types
        return fn

    return mark


@dataclass(frozen=True)
class RawRecord:
    """A Kafka record as any driver hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        return None


class ApplyContext:
    """What a handler gets: the transaction's connection and the projection's tables.

    Tables are looked up by name so the same handler can write the live tables or the
    shadow tables of a replay. Rows added with :meth:`insert` are buffered and written as
    one multi-row INSERT per table; any :meth:`execute` writes the buffers first, so the
    database sees statements in the order the handlers issued them.
    """

    def __init__(self, conn: Connection, tables: dict[str, sa.Table]) -> None:
        self.conn = conn
        self._tables = tables
        self._buffered: dict[str, list[dict[str, Any]]] = {}
        self.state: dict[str, Any] = {}
        """The projection's own scratch space for this transaction (see Projection.before_commit)."""

    def table(self, name: str) -> sa.Table:
        return self._tables[name]

    def insert(self, table: str, row: dict[str, Any]) -> None:
        self._buffered.setdefault(table, []).append(row)

    def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
        self.flush()
        return self.conn.execute(statement, parameters)

    def flush(self) -> None:
        for name, rows in self._buffered.items():
            if rows:
                self.conn.execute(self._tables[name].insert(), rows)
        self._buffered.clear()


class Projection:
    """Base of every projection; subclasses set the class attributes and write handlers."""

    name: ClassVar[str]
    """The consumer name: the Kafka consumer group and the inbox's consumer column."""
    topics: ClassVar[tuple[Topic, ...]]
    tables: ClassVar[tuple[sa.Table, ...]]
    """The tables this projection owns and writes; a replay rebuilds exactly these."""
    volatile_columns: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Columns a replay's comparison ignores (e.g. when a row was written, not what it says)."""

    def before_commit(self, ctx: ApplyContext) -> None:
        """Called once per transaction after its last handler, before the buffered rows are
        written: a projection that keeps running state for the transaction in ``ctx.state``
        (e.g. the heads of hash chains) writes it here, once, instead of once per event."""

    def handlers(self) -> dict[str, Callable[[ApplyContext, ReceivedEvent], None]]:
        found: dict[str, Callable[[ApplyContext, ReceivedEvent], None]] = {}
        for attribute in dir(type(self)):
            fn = getattr(type(self), attribute)
            for event_type in getattr(fn, "handles_event_types", ()):
                if event_type in found:
                    raise TypeError(f"{type(self).__name__} handles {event_type!r} twice")
                found[event_type] = getattr(self, attribute)
        return found


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    dead_letter_ids: list[str] = field(default_factory=list)

    def merge(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.dead_lettered += other.dead_lettered
        self.dead_letter_ids += other.dead_letter_ids


_LITERAL_ROWS = 10_000
"""Event ids per statement: keeps a statement far below max_allowed_packet however large the batch."""


def _event_key(event_id: str) -> bytes:
    """``event_id_bytes(event_id)``, four times faster for an id in the usual 36-character form."""
    if len(event_id) == 36:
        digits = event_id.replace("-", "")
        if len(digits) == 32:
            try:
                key = bytes.fromhex(digits)
            except ValueError:
                pass
            else:
                if len(key) == 16:
                    return key
    return event_id_bytes(event_id)


def _quoted(conn: Connection, table: sa.Table) -> str:
    return conn.dialect.identifier_preparer.format_table(table)


def _synthetic_event_id(record: RawRecord) -> str:
    """A stable id for a record whose envelope cannot even be parsed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka://{record.topic}/{record.partition}/{record.offset}"))


class ProjectionRunner:
    def __init__(
        self,
        engine: Engine,
        projection: Projection,
        *,
        consumer: str | None = None,
        tables: dict[str, sa.Table] | None = None,
        registry: EventRegistry = REGISTRY,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.projection = projection
        self.consumer = consumer or projection.name
        self.tables = tables or {t.name: t for t in projection.tables}
        self.registry = registry
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self._sleep = sleep
        self._handlers = projection.handlers()

    # -- the fast path: the whole batch in one transaction ----------------------------------
    def apply_batch(self, records: Sequence[RawRecord]) -> BatchResult:
        """Apply ``records`` (in order) effectively once; returns what happened to them.

        Raises only transient database errors: the caller retries the same batch.
        """
        result = BatchResult()
        wanted: list[RawRecord] = []
        handlers = self._handlers
        for record in records:
            event_type = record.header(HEADER_EVENT_TYPE)
            if event_type is None or event_type in handlers:
                wanted.append(record)
            else:
                result.ignored += 1
        if not wanted:
            return result
        self._apply_records(wanted, result)
        return result

    def _apply_records(self, records: Sequence[RawRecord], result: BatchResult) -> None:
        """Apply ``records`` in one transaction; if one of them fails, split the batch in halves.

        Bisecting keeps the order (the left half commits before the right one) and finds a
        poison event in log2(n) extra transactions, so the events around it still go in
        large transactions; the poison event itself is retried alone, then dead-lettered.
        """
        partial = BatchResult()
        try:
            with self.engine.begin() as conn:
                self._apply_in(conn, records, partial)
        except Exception as exc:
            if is_transient_db_error(exc):
                raise
            if len(records) == 1:
                self._apply_alone(records[0], result)
                return
            log.warning("batch_failed_bisecting", consumer=self.consumer, size=len(records), error=str(exc)[:200])
            middle = len(records) // 2
            self._apply_records(records[:middle], result)
            self._apply_records(records[middle:], result)
            return
        result.merge(partial)

    def _apply_in(self, conn: Connection, records: Sequence[RawRecord], result: BatchResult) -> None:
        # Events are known by their 16-byte key, as the inbox stores them: each id is converted
        # once, and a header id in another spelling of the same UUID still counts as seen.
        header_ids = [record.header(HEADER_EVENT_ID) for record in records]
        header_keys = [_event_key(i) if i else None for i in header_ids]
        known = self._seen_keys(conn, [k for k in header_keys if k is not None])
        ctx = ApplyContext(conn, self.tables)
        now = utcnow()
        applied: list[bytes] = []
        handlers = self._handlers
        for record, header_id, header_key in zip(records, header_ids, header_keys, strict=True):
            if header_key is not None and header_key in known:
                result.duplicates += 1
                continue
            event = self._read(record)
            event_id = event.event_id
            key = header_key if header_key is not None and event_id == header_id else _event_key(event_id)
            if key in known:
                result.duplicates += 1
                continue
            handler = handlers.get(event.event_type)
            known.add(key)
            if handler is None:
                result.ignored += 1
                continue
            handler(ctx, event)
            applied.append(key)
            result.applied += 1
        self.projection.before_commit(ctx)
        ctx.flush()
        self._write_inbox(conn, applied, now)

    def _already_seen(self, conn: Connection, event_ids: Iterable[str]) -> set[str]:
        keys = self._seen_keys(conn, [event_id_bytes(i) for i in dict.fromkeys(event_ids)])
        return {str(uuid.UUID(bytes=k)) for k in keys}

    # The two statements below run once per batch with thousands of event ids. For a driver
    # with named "%(name)s" parameters (PyMySQL, mysqlclient) they are written with the ids as
    # hex literals X'..' (hex digits need no escaping) and only the consumer name and time
    # bound, because binding every id costs the driver an escape call per value and
    # SQLAlchemy a parameter dict per row: together more than all the rest a batch does.
    def _seen_keys(self, conn: Connection, keys: list[bytes]) -> set[bytes]:
        """The keys among ``keys`` this consumer has applied or dead-lettered."""
        if not keys:
            return set()
        seen: set[bytes] = set()
        for start in range(0, len(keys), _LITERAL_ROWS):
            chunk = keys[start : start + _LITERAL_ROWS]
            if conn.dialect.paramstyle != "pyformat":
                for table in (inbox, dead_letters):
                    query = sa.select(table.c.event_id).where(
                        table.c.consumer == self.consumer, table.c.event_id.in_(chunk)
                    )
                    seen.update(conn.execute(query).scalars())
                continue
            listed = ",".join([f"X'{k.hex()}'" for k in chunk])
            sql = " UNION ALL ".join(
                f"SELECT event_id FROM {_quoted(conn, table)} WHERE consumer = %(consumer)s AND event_id IN ({listed})"  # noqa: S608
                for table in (inbox, dead_letters)
            )
            seen.update(conn.exec_driver_sql(sql, {"consumer": self.consumer}).scalars())
        return seen

    def _write_inbox(self, conn: Connection, keys: list[bytes], processed_at: datetime) -> None:
        if conn.dialect.paramstyle != "pyformat":
            if keys:
                rows = [{"consumer": self.consumer, "event_id": k, "processed_at": processed_at} for k in keys]
                conn.execute(inbox.insert(), rows)
            return
        head = f"INSERT INTO {_quoted(conn, inbox)} (consumer, event_id, processed_at) VALUES "  # noqa: S608
        for start in range(0, len(keys), _LITERAL_ROWS):
            values = ",".join(
                [f"(%(consumer)s,X'{k.hex()}',%(processed_at)s)" for k in keys[start : start + _LITERAL_ROWS]]
            )
            conn.exec_driver_sql(head + values, {"consumer": self.consumer, "processed_at": processed_at})

    def _read(self, record: RawRecord) -> ReceivedEvent:
        if record.value is None:
            raise ValueError(f"record {record.topic}/{record.partition}@{record.offset} has no value")
        envelope = parse_envelope(record.value)
        if envelope.event_type not in self._handlers:
            # Not ours: no need to understand its payload.
            return ReceivedEvent(record.topic, record.partition, record.offset, envelope, envelope.payload)
        payload = self.registry.decode_payload(envelope.event_type, envelope.schema_version, envelope.payload)
        return ReceivedEvent(record.topic, record.partition, record.offset, envelope, payload)

    # -- the slow path: isolate, retry, dead-letter -----------------------------------------
    def _apply_alone(self, record: RawRecord, result: BatchResult) -> None:
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            alone = BatchResult()
            try:
                with self.engine.begin() as conn:
                    self._apply_in(conn, [record], alone)
            except Exception as exc:
                if is_transient_db_error(exc):
                    raise
                error = "".join(traceback.format_exception_only(exc)).strip()
                log.warning("event_failed", consumer=self.consumer, attempt=attempt, error=error, offset=record.offset)
                if attempt < self.max_attempts:
                    self._sleep(self.retry_backoff * 2 ** (attempt - 1))
                continue
            result.merge(alone)
            return
        self._dead_letter(record, error, self.max_attempts, result)

    def _dead_letter(self, record: RawRecord, error: str, attempts: int, result: BatchResult) -> None:
        try:
            envelope = parse_envelope(record.value or b"")
            event_id, event_type = envelope.event_id, envelope.event_type
        except Exception:
            event_id, event_type = _synthetic_event_id(record), record.header(HEADER_EVENT_TYPE) or "unknown"
        key = (record.key or b"").decode(errors="replace")
        stream = BY_NAME.get(record.topic)
        dlq_topic = dead_letter_topic(stream).name if stream else f"{record.topic}.dlq"
        now = utcnow()
        with self.engine.begin() as conn:
            if self._already_seen(conn, [event_id]):
                return
            conn.execute(
                dead_letters.insert().values(
                    consumer=self.consumer,
                    event_id=event_id_bytes(event_id),
                    event_type=event_type,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    message_key=key,
                    envelope=record.value or b"",
                    error=error,
                    attempts=attempts,
                    status="pending",
                    failed_at=now,
                )
            )
            headers = [
                *((k, v.decode(errors="replace")) for k, v in record.headers),
                ("dlq-error", error[:4000]),
                ("dlq-consumer", self.consumer),
                ("dlq-attempts", str(attempts)),
                ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}"),
            ]
            write_outbox_rows(
                conn,
                [
                    {
                        # A fresh id: the same event may be dead-lettered by several consumers.
                        "event_id": uuid.uuid4().bytes,
                        "topic": dlq_topic,
                        "message_key": key,
                        "event_type": event_type,
                        "headers": headers,
                        "envelope": record.value or b"",
                        "created_at": now,
                    }
                ],
            )
        result.dead_lettered += 1
        result.dead_letter_ids.append(event_id)
        log.error("event_dead_lettered", consumer=self.consumer, event_id=event_id, error=error, topic=dlq_topic)

    # -- redrive ----------------------------------------------------------------------------
    def redrive(self, dead_letter_id: int) -> str:
        """Apply a dead-lettered event now (after a fix), exactly once; returns its event id.

        The handler, the inbox row and the dead letter's new status commit together, so a
        redrive that fails changes nothing and a second redrive finds nothing pending.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(dead_letters)
                .where(dead_letters.c.id == dead_letter_id, dead_letters.c.consumer == self.consumer)
                .with_for_update()
            ).one_or_none()
            if row is None:
                raise LookupError(f"no dead letter {dead_letter_id} for consumer {self.consumer}")
            if row.status != "pending":
                raise ValueError(f"dead letter {dead_letter_id} is {row.status}, not pending")
            record = RawRecord(row.topic, row.partition, row.offset, row.message_key.encode(), row.envelope)
            event = self._read(record)
            handler = self._handlers.get(event.event_type)
            if handler is not None:
                ctx = ApplyContext(conn, self.tables)
                handler(ctx, event)
                self.projection.before_commit(ctx)
                ctx.flush()
            conn.execute(
                inbox.insert().values(
                    consumer=self.consumer, event_id=event_id_bytes(event.event_id), processed_at=utcnow()
                )
            )
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.id == dead_letter_id)
                .values(status="redriven", resolved_at=utcnow(), resolution="applied by redrive")
            )
            return event.event_id
