"""Replay: rebuild a projection from offset 0 into shadow tables, compare them with the live ones, swap.

**Identity.** A replay reads with a plain Kafka consumer (manual ``assign``, no group, no
offset commits), so the live consumer group is never joined, rebalanced or moved. It applies
through :class:`ProjectionRunner` under its own inbox identity ``<projection>@replay`` and
into shadow tables ``<table>__replay`` created ``LIKE`` the live ones, so it runs while the
live consumer keeps running. A fresh replay first deletes that identity's inbox rows, dead
letters and saved positions, and recreates the shadow tables empty.

**Order.** Kafka orders events only within a partition; the live consumer sees partitions
interleaved however its fetches happened to come back. The replay merges the partitions of
all its topics by record timestamp (ties: topic, then partition), taking always the earliest
head. That keeps every partition's order (a merge never reorders one input), comes close to
the order the events happened in (so a projection that reads several streams sees them
roughly as the live one did), and does not depend on fetch timing: two replays of the same
log apply the same events in the same order in the same batches, so they write identical
tables, auto-increment ids included.

**Positions.** After each batch commits, the offsets it reached are saved in
``replay_positions`` (consumer, topic, partition). They let ``resume=True`` catch a replay
up with events that arrived since (and let :func:`check_live_consumer_stopped` prove the
rebuild covers everything the live group has committed). Saving them is not atomic with the
batch; it need not be: after a crash the replay resumes from older positions and the inbox
skips what was already applied.

**Comparison.** Per table, both sides are read as (key digest, row digest) computed by
MariaDB from the columns that say what a row *means*: all columns minus the projection's
``volatile_columns`` and minus a surrogate key (a single auto-increment primary key column).
The live consumer's ids follow its own fetch interleaving and lost ids of rolled-back
batches, so they match the rebuild's only by accident; a surrogate id carries no meaning of
its own. Rows are then identified by the first unique key made of compared, non-nullable
columns if the table has one, else by their whole content (the table is compared as a
multiset: a changed row shows as one row only in live and one only in the rebuild, each with
its own side's id). Tables with a natural primary key are compared by that key. Values are
hashed as their stored bytes (``HEX``), so a change of letter case or trailing space counts.

**Swap.** With the live consumer of the projection STOPPED (its group empty) and the replay
caught up to at least the offsets that group committed, :func:`swap`:

1. renames all live tables to ``<table>__old`` and all shadow tables to ``<table>`` in ONE
   ``RENAME TABLE`` statement (atomic: a reader sees either the old set or the new one);
2. in one transaction moves the replay identity's inbox rows to the live consumer's name
   (the live consumer's own rows are deleted first), moves its dead letters likewise (a
   replay's dead letter replaces the live one of the same event; a live pending dead letter
   whose event the rebuild applied is resolved), and deletes the replay's saved positions;
3. drops the ``__old`` tables.

When the live consumer starts again it resumes from its committed offsets; every event the
rebuild covered is found in the (moved) inbox and skipped, every later one is applied. A
swap interrupted between steps is finished by calling it again: the saved positions tell
whether step 2 has happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import Connection, Engine

from cpshared.clock import utcnow
from cpshared.db import retry_on_disconnect
from cpshared.events.projection import BatchResult, Projection, ProjectionRunner, RawRecord
from cpshared.events.tables import MICROSECONDS, dead_letters, inbox
from cpshared.kafka_admin import topic_partitions
from cpshared.logging import get_logger

log = get_logger(__name__)

REPLAY_SUFFIX = "__replay"
OLD_SUFFIX = "__old"
MAX_TABLE_NAME = 64
"""MariaDB's limit on identifier length."""
DIFFERENCES_SHOWN = 20

_metadata = sa.MetaData()

replay_positions = sa.Table(
    "replay_positions",
    _metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("topic", sa.String(200), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("end_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", MICROSECONDS, nullable=False),
    mysql_engine="InnoDB",
)
"""How far each replay identity got in each partition, and where it was headed."""


class SwapRefused(RuntimeError):
    """The shadow tables cannot be promoted now; the message says what to do first."""


def replay_consumer(projection: Projection) -> str:
    """The inbox identity a replay of ``projection`` applies under."""
    return f"{projection.name}@replay"


# -- shadow tables -------------------------------------------------------------------------


def shadow_tables(projection: Projection, suffix: str = REPLAY_SUFFIX) -> dict[str, sa.Table]:
    """The projection's tables by their logical (live) names, as copies named ``<table><suffix>``."""
    metadata = sa.MetaData()
    shadows: dict[str, sa.Table] = {}
    for table in projection.tables:
        for name in (f"{table.name}{suffix}", f"{table.name}{OLD_SUFFIX}"):
            if len(name) > MAX_TABLE_NAME:
                raise ValueError(f"table name {name!r} is longer than {MAX_TABLE_NAME} characters")
        shadows[table.name] = table.to_metadata(metadata, name=f"{table.name}{suffix}")
    return shadows


def create_shadow_tables(engine: Engine, projection: Projection, suffix: str = REPLAY_SUFFIX) -> dict[str, sa.Table]:
    """Create the shadow tables empty (dropping leftovers), ``LIKE`` the live tables where they exist.

    ``LIKE`` copies the live table exactly as the migrations left it (column types,
    character sets, index names), which matters because the copy may become the live table;
    it starts the auto-increment counter at 1 again. (It does not copy foreign keys:
    projection tables should have none.) A live table that does not exist yet is created
    from the projection's definition.
    """
    shadows = shadow_tables(projection, suffix)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for name, shadow in shadows.items():
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(shadow.name)}"))
            if name in existing:
                conn.execute(sa.text(f"CREATE TABLE {quote(shadow.name)} LIKE {quote(name)}"))
            else:
                shadow.create(conn)
    return shadows


# -- replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayProgress:
    """Where a replay is: offsets done of the total it set out to read, and since when."""

    done: int
    total: int
    elapsed: float

    @property
    def events_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.events_per_second
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass
class ReplayResult:
    consumer: str
    tables: dict[str, str]
    """Logical table name -> the shadow table the replay wrote."""
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """(topic, partition) -> the next offset: the replay covers everything before it."""

    @property
    def events_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def add(self, batch: BatchResult) -> None:
        self.applied += batch.applied
        self.duplicates += batch.duplicates
        self.ignored += batch.ignored
        self.dead_lettered += batch.dead_lettered


ProgressCallback = Callable[[ReplayProgress], None]


async def replay(
    engine: Engine,
    bootstrap: str,
    projection: Projection,
    *,
    suffix: str = REPLAY_SUFFIX,
    progress: ProgressCallback | None = None,
    batch: int = 5000,
    resume: bool = False,
    max_fetch_bytes: int = 2**20,
) -> ReplayResult:
    """Rebuild ``projection`` from its streams into shadow tables; see the module docstring.

    Reads every partition of the projection's topics from the beginning (``resume``: from
    the positions a previous replay saved, into its existing shadow tables) up to the end
    offsets found at the start, and applies them ``batch`` records per transaction.
    ``progress`` is called (on the event loop) at the start and after every batch.
    ``max_fetch_bytes`` is fetched per partition at a time; fetched records wait as Python
    objects (about 1 KB each), so it bounds memory: 1 MiB keeps a replay near 120 MB
    resident, 8 MiB took it past 300 MB for no gain in speed.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    consumer = replay_consumer(projection)
    started = time.monotonic()
    partitions = await _partitions(bootstrap, projection)  # before touching any table: the topics exist
    if resume:
        shadows = shadow_tables(projection, suffix)
        saved = await asyncio.to_thread(_check_resumable, engine, consumer, shadows)
    else:
        shadows = await asyncio.to_thread(_start_clean, engine, projection, suffix)
        saved = {}
    runner = ProjectionRunner(engine, projection, consumer=consumer, tables=shadows)
    result = ReplayResult(consumer=consumer, tables={name: t.name for name, t in shadows.items()})

    kafka = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=consumer,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max_fetch_bytes,
        fetch_max_bytes=max_fetch_bytes * 4,
    )
    await kafka.start()
    try:
        kafka.assign(partitions)
        beginning = await kafka.beginning_offsets(partitions)
        end = await kafka.end_offsets(partitions)
        start = {tp: max(beginning[tp], saved.get((tp.topic, tp.partition), 0)) for tp in partitions}
        for tp in partitions:
            kafka.seek(tp, start[tp])
        total = sum(max(0, end[tp] - start[tp]) for tp in partitions)
        await asyncio.to_thread(_save_positions, engine, consumer, start, end)
        log.info("replay_started", consumer=consumer, partitions=len(partitions), events=total, resume=resume)

        reached = dict(start)
        done = 0

        def report() -> None:
            if progress is not None:
                progress(ReplayProgress(done=done, total=total, elapsed=time.monotonic() - started))

        def apply(records: list[RawRecord], through: dict[TopicPartition, int]) -> BatchResult:
            # In a worker thread: while MariaDB works on this batch, the event loop fetches the next.
            applied = retry_on_disconnect(lambda: runner.apply_batch(records), timeout=300)
            retry_on_disconnect(lambda: _save_positions(engine, consumer, through), timeout=300)
            return applied

        in_flight: tuple[asyncio.Task[BatchResult], dict[TopicPartition, int]] | None = None

        async def finish_in_flight() -> None:
            nonlocal in_flight, done
            if in_flight is not None:
                task, through = in_flight
                in_flight = None
                result.add(await task)
                reached.update(through)
                done = sum(reached[tp] - start[tp] for tp in partitions)
                report()

        async def submit(records: list[RawRecord]) -> None:
            nonlocal in_flight
            through: dict[TopicPartition, int] = {}
            for record in records:
                through[TopicPartition(record.topic, record.partition)] = record.offset + 1
            await finish_in_flight()
            in_flight = (asyncio.create_task(asyncio.to_thread(apply, records, through)), through)

        report()
        pending: list[RawRecord] = []
        try:
            async for run in _merged(kafka, partitions, start, end):
                result.records += len(run)
                pending.extend(run)
                while len(pending) >= batch:
                    await submit(pending[:batch])
                    del pending[:batch]
            if pending:
                await submit(pending)
            await finish_in_flight()
        finally:
            if in_flight is not None:
                # Leave no thread writing behind us, whatever went wrong.
                await asyncio.gather(in_flight[0], return_exceptions=True)
        # Offsets without records (transaction markers, compacted gaps) count as done too.
        await asyncio.to_thread(_save_positions, engine, consumer, end)
        done = total
        report()
        result.positions = {(tp.topic, tp.partition): end[tp] for tp in partitions}
    finally:
        await kafka.stop()
    result.seconds = time.monotonic() - started
    log.info(
        "replay_finished",
        consumer=consumer,
        records=result.records,
        applied=result.applied,
        dead_lettered=result.dead_lettered,
        seconds=round(result.seconds, 2),
    )
    return result


async def _partitions(bootstrap: str, projection: Projection) -> list[TopicPartition]:
    return await topic_partitions(bootstrap, [t.name for t in projection.topics])


async def _merged(
    kafka: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    start: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> AsyncIterator[list[RawRecord]]:
    """Yield runs of RawRecords: all partitions merged by (timestamp, partition order), each partition in order.

    Always takes the partition whose next record is earliest, and from it every record up to
    the next record of any other partition, so a run is long when the partitions' times do
    not interleave finely. A partition whose buffer is empty is fetched before any choice is
    made: the choice must see every partition's next record to be the same on every replay.
    """
    rank = {tp: i for i, tp in enumerate(partitions)}
    buffers: dict[TopicPartition, list[Any]] = {tp: [] for tp in partitions}
    heads = dict.fromkeys(partitions, 0)
    fetching = {tp for tp in partitions if start[tp] < end[tp]}

    while True:
        starving = [tp for tp in fetching if heads[tp] >= len(buffers[tp])]
        while starving:
            fetched = await kafka.getmany(*starving, timeout_ms=1000)
            for tp in starving:
                records = fetched.get(tp)
                if records:
                    limit = end[tp]
                    if records[-1].offset + 1 >= limit:
                        records = [r for r in records if r.offset < limit]
                        fetching.discard(tp)
                    buffers[tp], heads[tp] = records, 0
                elif await kafka.position(tp) >= end[tp]:
                    fetching.discard(tp)
            starving = [tp for tp in fetching if heads[tp] >= len(buffers[tp])]

        ready = [tp for tp in partitions if heads[tp] < len(buffers[tp])]
        if not ready:
            return
        if len(ready) == 1:
            best = ready[0]
            stop = len(buffers[best])
        else:
            keyed = sorted((buffers[tp][heads[tp]].timestamp, rank[tp], tp) for tp in ready)
            best = keyed[0][2]
            bound, bound_rank = keyed[1][0], keyed[1][1]
            buffer, stop = buffers[best], heads[best]
            if rank[best] < bound_rank:
                while stop < len(buffer) and buffer[stop].timestamp <= bound:
                    stop += 1
            else:
                while stop < len(buffer) and buffer[stop].timestamp < bound:
                    stop += 1
        first = heads[best]
        heads[best] = stop
        yield [RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in buffers[best][first:stop]]


def _start_clean(engine: Engine, projection: Projection, suffix: str) -> dict[str, sa.Table]:
    consumer = replay_consumer(projection)
    _metadata.create_all(engine, checkfirst=True)
    # In slices: one DELETE of a million inbox rows would make one huge transaction.
    for table in (inbox, dead_letters):
        while True:
            with engine.begin() as conn:
                deleted = conn.execute(
                    table.delete().where(table.c.consumer == consumer).with_dialect_options(mysql_limit=50_000)
                ).rowcount
            if deleted == 0:
                break
    with engine.begin() as conn:
        conn.execute(replay_positions.delete().where(replay_positions.c.consumer == consumer))
    return create_shadow_tables(engine, projection, suffix)


def _check_resumable(engine: Engine, consumer: str, shadows: dict[str, sa.Table]) -> dict[tuple[str, int], int]:
    _metadata.create_all(engine, checkfirst=True)
    existing = set(sa.inspect(engine).get_table_names())
    missing = [t.name for t in shadows.values() if t.name not in existing]
    if missing:
        raise LookupError(f"nothing to resume: shadow table(s) {', '.join(missing)} do not exist; replay afresh")
    saved = saved_positions(engine, consumer)
    if not saved:
        raise LookupError(f"nothing to resume: {consumer} saved no positions; replay afresh")
    return {key: next_offset for key, (next_offset, _end) in saved.items()}


def saved_positions(engine: Engine, consumer: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (next offset, end offset the replay was headed for)."""
    _metadata.create_all(engine, checkfirst=True)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                replay_positions.c.topic,
                replay_positions.c.partition,
                replay_positions.c.next_offset,
                replay_positions.c.end_offset,
            ).where(replay_positions.c.consumer == consumer)
        ).all()
    return {(r.topic, r.partition): (int(r.next_offset), int(r.end_offset)) for r in rows}


def _save_positions(
    engine: Engine,
    consumer: str,
    next_offsets: dict[TopicPartition, int],
    end_offsets: dict[TopicPartition, int] | None = None,
) -> None:
    now = utcnow()
    with engine.begin() as conn:
        if end_offsets is not None:
            conn.execute(replay_positions.delete().where(replay_positions.c.consumer == consumer))
            conn.execute(
                replay_positions.insert(),
                [
                    {
                        "consumer": consumer,
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "next_offset": next_offsets[tp],
                        "end_offset": end_offsets[tp],
                        "updated_at": now,
                    }
                    for tp in end_offsets
                ],
            )
            return
        for tp, offset in next_offsets.items():
            conn.execute(
                replay_positions.update()
                .where(
                    replay_positions.c.consumer == consumer,
                    replay_positions.c.topic == tp.topic,
                    replay_positions.c.partition == tp.partition,
                )
                .values(next_offset=offset, updated_at=now)
            )


# -- compare -------------------------------------------------------------------------------

DifferenceKind = Literal["changed", "only in live", "only in rebuilt"]


@dataclass(frozen=True)
class RowDifference:
    kind: DifferenceKind
    key: dict[str, Any]
    """The row's key (natural key), or for a table compared by content its id on the side it is on."""
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None


@dataclass
class TableComparison:
    table: str
    key: tuple[str, ...]
    """Columns that identify a row; empty: rows are compared by their whole content."""
    columns: tuple[str, ...]
    """Columns compared and hashed."""
    live_rows: int = 0
    rebuilt_rows: int = 0
    live_hash: str = ""
    rebuilt_hash: str = ""
    differing_rows: int = 0
    differences: list[RowDifference] = field(default_factory=list)
    """The first differences (at most the ``limit`` given to :func:`compare`)."""

    @property
    def equal(self) -> bool:
        return self.live_hash == self.rebuilt_hash and self.live_rows == self.rebuilt_rows


@dataclass
class ComparisonReport:
    tables: list[TableComparison]

    @property
    def identical(self) -> bool:
        return all(t.equal for t in self.tables)


def compared_columns(projection: Projection, table: sa.Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(columns compared, columns identifying a row) for one of the projection's tables."""
    volatile = set(projection.volatile_columns.get(table.name, ()))
    surrogate = _surrogate_key(table)
    columns = tuple(c.name for c in table.columns if c.name not in volatile and c.name != surrogate)
    if surrogate is None:
        key = tuple(c.name for c in table.primary_key.columns)
        return columns, key if key and not set(key) & volatile else ()
    for candidate in _unique_keys(table):
        if all(name in columns and not table.c[name].nullable for name in candidate):
            return columns, candidate
    return columns, ()


def _surrogate_key(table: sa.Table) -> str | None:
    pk = list(table.primary_key.columns)
    if len(pk) == 1 and table.autoincrement_column is pk[0]:
        return pk[0].name
    return None


def _unique_keys(table: sa.Table) -> Iterator[tuple[str, ...]]:
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            yield tuple(c.name for c in constraint.columns)
    for index in table.indexes:
        if index.unique:
            yield tuple(c.name for c in index.columns if isinstance(c, sa.Column))


def compare(
    engine: Engine, projection: Projection, suffix: str = REPLAY_SUFFIX, *, limit: int = DIFFERENCES_SHOWN
) -> ComparisonReport:
    """Compare every live table of ``projection`` with its shadow table; see the module docstring.

    Each side is streamed once, ordered by key digest (or row digest), so memory stays flat
    however large the tables; only the first ``limit`` differing rows are read in full.
    """
    shadows = shadow_tables(projection, suffix)
    existing = set(sa.inspect(engine).get_table_names())
    missing = [t.name for t in shadows.values() if t.name not in existing]
    if missing:
        raise LookupError(f"no rebuilt table(s) {', '.join(missing)}: run the replay first")
    return ComparisonReport([_compare_table(engine, projection, t, shadows[t.name], limit) for t in projection.tables])


def _canonical(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """A column as text that is equal exactly when the stored values are: hex of its bytes, 'n' for NULL."""
    value: sa.ColumnElement[Any] = column
    if not isinstance(column.type, sa.String | sa.types._Binary | sa.JSON):
        value = sa.cast(column, sa.CHAR)
    return sa.func.coalesce(sa.func.concat("v", sa.func.hex(value)), "n")


def _digest(columns: Sequence[sa.Column[Any]]) -> sa.ColumnElement[bytes]:
    return sa.func.unhex(sa.func.sha2(sa.func.concat_ws(",", *(_canonical(c) for c in columns)), 256))


@dataclass
class _Side:
    rows: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)


def _compare_table(
    engine: Engine, projection: Projection, live: sa.Table, rebuilt: sa.Table, limit: int
) -> TableComparison:
    columns, key = compared_columns(projection, live)
    # What a differing row is fetched by afterwards: its key, or its primary key on its side.
    locator = key or tuple(c.name for c in live.primary_key.columns)
    report = TableComparison(table=live.name, key=key, columns=columns)
    found: list[tuple[DifferenceKind, tuple[Any, ...] | None, tuple[Any, ...] | None]] = []

    def stream(conn: Connection, table: sa.Table, side: _Side) -> Iterator[tuple[Any, ...]]:
        row_digest = _digest([table.c[c] for c in columns]).label("row_digest")
        key_digest = _digest([table.c[c] for c in key]).label("key_digest") if key else row_digest
        query = sa.select(key_digest, row_digest, *(table.c[c] for c in locator)).order_by(key_digest)
        if not key and locator:
            query = query.order_by(*(table.c[c] for c in locator))
        result = conn.execution_options(stream_results=True, max_row_buffer=20_000).execute(query)
        for row in result:
            side.rows += 1
            side.hasher.update(row[0])
            if key:
                side.hasher.update(row[1])
            yield tuple(row)

    live_side, rebuilt_side = _Side(), _Side()
    with engine.connect() as live_conn, engine.connect() as rebuilt_conn:
        a_rows, b_rows = stream(live_conn, live, live_side), stream(rebuilt_conn, rebuilt, rebuilt_side)
        a, b = next(a_rows, None), next(b_rows, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[0] < b[0]):
                assert a is not None
                found.append(("only in live", a[2:], None))
                a = next(a_rows, None)
            elif a is None or b[0] < a[0]:
                found.append(("only in rebuilt", None, b[2:]))
                b = next(b_rows, None)
            else:
                if a[1] != b[1]:
                    found.append(("changed", a[2:], b[2:]))
                a, b = next(a_rows, None), next(b_rows, None)
            if len(found) > limit:
                # Count the rest, keep the first ``limit`` for reading in full.
                report.differing_rows += len(found) - limit
                del found[limit:]
        report.differing_rows += len(found)

    report.live_rows, report.rebuilt_rows = live_side.rows, rebuilt_side.rows
    report.live_hash, report.rebuilt_hash = live_side.hasher.hexdigest(), rebuilt_side.hasher.hexdigest()
    with engine.connect() as conn:
        for kind, live_locator, rebuilt_locator in found:
            live_row = _fetch(conn, live, locator, live_locator)
            rebuilt_row = _fetch(conn, rebuilt, locator, rebuilt_locator)
            shown = live_locator if live_locator is not None else rebuilt_locator
            report.differences.append(
                RowDifference(kind, dict(zip(locator, shown or (), strict=True)), live_row, rebuilt_row)
            )
    return report


def _fetch(
    conn: Connection, table: sa.Table, locator: Sequence[str], values: tuple[Any, ...] | None
) -> dict[str, Any] | None:
    if values is None or not locator:
        return None
    row = conn.execute(
        sa.select(table).where(*(table.c[c] == v for c, v in zip(locator, values, strict=True))).limit(1)
    ).first()
    return dict(row._mapping) if row is not None else None


# -- swap ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveConsumerStatus:
    group: str
    members: int
    committed: dict[tuple[str, int], int]
    """(topic, partition) -> the offset the live group will resume from."""


async def live_consumer_status(bootstrap: str, projection: Projection) -> LiveConsumerStatus:
    """The live consumer group of ``projection``: how many members it has and what it committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=replay_consumer(projection))
    await admin.start()
    try:
        members = 0
        for response in await admin.describe_consumer_groups([projection.name]):
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            for group in response.groups:
                members += len(group[5])
        offsets = await admin.list_consumer_group_offsets(projection.name)
    finally:
        await admin.close()
    topics = {t.name for t in projection.topics}
    committed = {
        (tp.topic, tp.partition): int(meta.offset)
        for tp, meta in offsets.items()
        if tp.topic in topics and meta.offset >= 0
    }
    return LiveConsumerStatus(group=projection.name, members=members, committed=committed)


def lag_behind_live(
    status: LiveConsumerStatus, positions: dict[tuple[str, int], tuple[int, int]]
) -> dict[tuple[str, int], int]:
    """Partitions where the live group committed more than the replay covers, and by how many offsets."""
    behind: dict[tuple[str, int], int] = {}
    for key, offset in status.committed.items():
        covered = positions.get(key, (0, 0))[0]
        if offset > covered:
            behind[key] = offset - covered
    return behind


async def check_live_consumer_stopped(
    engine: Engine, bootstrap: str, projection: Projection, *, require_caught_up: bool = True
) -> LiveConsumerStatus:
    """Refuse (SwapRefused) while the live group has members, or has committed beyond the replay."""
    status = await live_consumer_status(bootstrap, projection)
    if status.members:
        raise SwapRefused(
            f"the live consumer group {status.group!r} has {status.members} member(s): "
            "stop the consumer of this projection before swapping"
        )
    if require_caught_up:
        positions = await asyncio.to_thread(saved_positions, engine, replay_consumer(projection))
        behind = lag_behind_live(status, positions)
        if behind:
            where = ", ".join(f"{t}/{p} by {n}" for (t, p), n in sorted(behind.items()))
            raise SwapRefused(
                f"the live consumer committed offsets the replay has not reached ({where}): "
                "resume the replay now that the consumer is stopped, then swap"
            )
    return status


@dataclass(frozen=True)
class SwapResult:
    tables: dict[str, str]
    """Live table -> the shadow table that replaced it."""
    inbox_rows_moved: int
    recovered: bool
    """True: an interrupted swap was finished."""


def swap(engine: Engine, projection: Projection, suffix: str = REPLAY_SUFFIX) -> SwapResult:
    """Promote the shadow tables and hand the replay's inbox to the live consumer; see the module docstring.

    The live consumer of ``projection`` must be stopped and stay stopped until this returns
    (:func:`check_live_consumer_stopped` verifies it where Kafka is reachable): its writes
    would land in the tables being dropped, and its inbox rows would be deleted.
    """
    consumer, live_consumer = replay_consumer(projection), projection.name
    shadows = shadow_tables(projection, suffix)
    live_names = [t.name for t in projection.tables]
    quote = engine.dialect.identifier_preparer.quote
    positions = saved_positions(engine, consumer)
    existing = set(sa.inspect(engine).get_table_names())
    shadow_present = [shadows[n].name in existing for n in live_names]
    old_present = [f"{n}{OLD_SUFFIX}" in existing for n in live_names]
    recovered = False

    if all(shadow_present):
        unfinished = [f"{t}/{p}" for (t, p), (nxt, end) in sorted(positions.items()) if nxt < end]
        if not positions or unfinished:
            raise SwapRefused(
                f"the replay of {live_consumer} has not finished"
                + (f" (partitions {', '.join(unfinished)})" if unfinished else "")
                + ": run it to the end before swapping"
            )
        missing = [n for n in live_names if n not in existing]
        if missing:
            raise SwapRefused(f"live table(s) {', '.join(missing)} do not exist: nothing to swap with")
        with engine.begin() as conn:
            for name in live_names:
                # Left by a swap that was interrupted after its rename: the data is history.
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name + OLD_SUFFIX)}"))
            renames = ", ".join(
                f"{quote(name)} TO {quote(name + OLD_SUFFIX)}, {quote(shadows[name].name)} TO {quote(name)}"
                for name in live_names
            )
            # Fail rather than wait forever behind a reader's open transaction on a live table.
            conn.execute(sa.text(f"SET STATEMENT lock_wait_timeout = 30 FOR RENAME TABLE {renames}"))
        log.info("replay_tables_swapped", consumer=live_consumer, tables=live_names)
    elif not any(shadow_present) and all(old_present):
        recovered = True
        log.warning("replay_swap_resumed", consumer=live_consumer)
    else:
        raise SwapRefused(
            f"no complete set of rebuilt tables for {live_consumer} "
            f"({', '.join(shadows[n].name for n in live_names)}): run the replay first"
        )

    moved = 0
    if positions:
        # The saved positions are deleted in this same transaction: their presence says
        # whether the inbox still has to move, should this swap be interrupted and re-run.
        moved = _move_identity(engine, consumer, live_consumer)
    with engine.begin() as conn:
        for name in live_names:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name + OLD_SUFFIX)}"))
    log.info("replay_swap_finished", consumer=live_consumer, inbox_rows=moved, recovered=recovered)
    return SwapResult(
        tables={name: shadows[name].name for name in live_names}, inbox_rows_moved=moved, recovered=recovered
    )


def _move_identity(engine: Engine, replay_identity: str, live: str) -> int:
    now = utcnow()
    params = {"live": live, "replay": replay_identity}
    with engine.begin() as conn:
        conn.execute(inbox.delete().where(inbox.c.consumer == live))
        moved = conn.execute(inbox.update().where(inbox.c.consumer == replay_identity).values(consumer=live)).rowcount
        # A dead letter of the rebuild describes the tables now live; it replaces the old one.
        conn.execute(
            sa.text(
                "DELETE old FROM dead_letters AS old JOIN dead_letters AS new "
                "ON new.event_id = old.event_id AND new.consumer = :replay WHERE old.consumer = :live"
            ),
            params,
        )
        # An event the old tables could not apply but the rebuild did is no longer pending.
        conn.execute(
            sa.text(
                "UPDATE dead_letters AS d JOIN inbox AS i ON i.consumer = :live AND i.event_id = d.event_id "
                "SET d.status = 'redriven', d.resolved_at = :now, d.resolution = :why "
                "WHERE d.consumer = :live AND d.status = 'pending'"
            ),
            {**params, "now": now, "why": f"applied by the replay swapped in at {now.isoformat()}"},
        )
        conn.execute(dead_letters.update().where(dead_letters.c.consumer == replay_identity).values(consumer=live))
        conn.execute(replay_positions.delete().where(replay_positions.c.consumer == replay_identity))
    return int(moved)
