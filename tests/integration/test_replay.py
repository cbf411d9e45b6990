"""Replay on the real Kafka and MariaDB: rebuild from offset 0, compare with the live tables, swap.

Each test fills a scratch stream with canary events produced straight to Kafka and applies
them to the live tables with a ProjectionRunner under the projection's own name, as the live
consumer would have (in the order a plain consumer happened to fetch them).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cloudctl.replay_cli import replay as replay_command
from cpshared.events import replay as replaying
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, ProjectionRunner, RawRecord, handles
from cpshared.events.replay import (
    ReplayProgress,
    SwapRefused,
    check_live_consumer_stopped,
    compare,
    replay,
    replay_consumer,
    shadow_tables,
    swap,
)
from cpshared.events.tables import dead_letters, inbox
from cpshared.topics import Topic
from tests.integration.backbone import (
    KAFKA,
    ScratchDatabase,
    canary_events,
    effect_counts,
    effects,
    make_projection,
    produce_events,
    read_topic,
)

EVENTS = 20_000


def apply_live(engine: Engine, projection: Projection, records: list[RawRecord], batch: int = 1000) -> int:
    """What the live consumer does: batches in fetch order, under the projection's name."""
    runner = ProjectionRunner(engine, projection)
    applied = 0
    for start in range(0, len(records), batch):
        applied += runner.apply_batch(records[start : start + batch]).applied
    return applied


def fill_and_apply_live(db: ScratchDatabase, topic: Topic, projection: Projection, count: int = EVENTS) -> None:
    assert asyncio.run(produce_events(topic, canary_events(topic, count))) == count
    assert apply_live(db.engine, projection, asyncio.run(read_topic(topic))) == count


def rows_of(engine: Engine, table: sa.Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]


def inbox_ids(engine: Engine, consumer: str) -> set[bytes]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(inbox.c.event_id).where(inbox.c.consumer == consumer)).scalars())


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.fixture
def counter(scratch_db: ScratchDatabase, scratch_stream: Topic) -> Projection:
    # Its own name: the name is also the live consumer group, and groups are broker-wide.
    projection = make_projection(f"canary-counter-{uuid.uuid4().hex[:8]}", scratch_stream)
    fill_and_apply_live(scratch_db, scratch_stream, projection)
    return projection


def test_a_replay_of_the_stream_rebuilds_tables_identical_to_the_live_ones_with_progress(
    scratch_db: ScratchDatabase, counter: Projection
) -> None:
    seen: list[ReplayProgress] = []
    result = asyncio.run(replay(scratch_db.engine, KAFKA, counter, progress=seen.append, batch=3000))

    assert (result.records, result.applied, result.duplicates, result.dead_lettered) == (EVENTS, EVENTS, 0, 0)
    assert result.consumer == f"{counter.name}@replay" and result.tables == {"canary_effects": "canary_effects__replay"}
    assert seen[0].done == 0 and seen[-1].done == seen[-1].total == EVENTS
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert len(seen) >= EVENTS // 3000

    report = compare(scratch_db.engine, counter)
    assert report.identical
    (table,) = report.tables
    assert (table.live_rows, table.rebuilt_rows, table.differing_rows) == (EVENTS, EVENTS, 0)
    assert table.live_hash == table.rebuilt_hash
    # The surrogate id is not compared, and without a unique key rows are compared by content.
    assert table.key == () and "id" not in table.columns
    # The replay wrote its own inbox rows and left the live consumer's alone.
    assert inbox_ids(scratch_db.engine, replay_consumer(counter)) == inbox_ids(scratch_db.engine, counter.name)


def test_replaying_twice_gives_identical_tables_ids_included(scratch_db: ScratchDatabase, counter: Projection) -> None:
    shadow = shadow_tables(counter)["canary_effects"]
    asyncio.run(replay(scratch_db.engine, KAFKA, counter, batch=2500))
    first, first_hash = rows_of(scratch_db.engine, shadow), compare(scratch_db.engine, counter).tables[0].rebuilt_hash

    again = asyncio.run(replay(scratch_db.engine, KAFKA, counter, batch=2500))

    assert again.applied == EVENTS and again.duplicates == 0  # it started clean: inbox rows deleted first
    assert rows_of(scratch_db.engine, shadow) == first
    assert compare(scratch_db.engine, counter).tables[0].rebuilt_hash == first_hash
    assert len(inbox_ids(scratch_db.engine, replay_consumer(counter))) == EVENTS


def test_a_tampered_live_row_is_the_one_the_comparison_lists(scratch_db: ScratchDatabase, counter: Projection) -> None:
    asyncio.run(replay(scratch_db.engine, KAFKA, counter))
    with scratch_db.engine.begin() as conn:
        victim = conn.execute(sa.select(effects).where(effects.c.id == 1234)).one()
        conn.execute(effects.update().where(effects.c.id == 1234).values(note="tampered"))

    report = compare(scratch_db.engine, counter)

    assert not report.identical
    (table,) = report.tables
    assert (table.live_rows, table.rebuilt_rows) == (EVENTS, EVENTS)
    assert table.live_hash != table.rebuilt_hash
    # Compared by content, a changed row is one row only in live and its original only in the rebuild.
    assert table.differing_rows == 2
    by_kind = {d.kind: d for d in table.differences}
    assert set(by_kind) == {"only in live", "only in rebuilt"}
    live_row, rebuilt_row = by_kind["only in live"].live, by_kind["only in rebuilt"].rebuilt
    assert by_kind["only in live"].key == {"id": 1234}
    assert live_row is not None and live_row["note"] == "tampered" and live_row["event_id"] == victim.event_id
    assert rebuilt_row is not None and rebuilt_row["note"] == "ok" and rebuilt_row["event_id"] == victim.event_id


def test_swap_promotes_the_rebuilt_tables_and_hands_the_inbox_to_the_live_consumer(
    scratch_db: ScratchDatabase, scratch_stream: Topic, counter: Projection
) -> None:
    engine = scratch_db.engine
    with engine.begin() as conn:
        conn.execute(effects.delete().where(effects.c.id <= 10))  # the live tables lost something
    asyncio.run(replay(engine, KAFKA, counter))
    rebuilt = rows_of(engine, shadow_tables(counter)["canary_effects"])
    replay_inbox = inbox_ids(engine, replay_consumer(counter))
    assert not compare(engine, counter).identical

    asyncio.run(check_live_consumer_stopped(engine, KAFKA, counter))
    result = swap(engine, counter)

    assert result.tables == {"canary_effects": "canary_effects__replay"} and result.inbox_rows_moved == EVENTS
    assert rows_of(engine, effects) == rebuilt
    assert effect_counts(engine) == (EVENTS, EVENTS)
    assert {"canary_effects__replay", "canary_effects__old"}.isdisjoint(table_names(engine))
    assert inbox_ids(engine, counter.name) == replay_inbox
    assert inbox_ids(engine, replay_consumer(counter)) == set()

    # The live consumer, started again from offset 0, finds every event in its inbox.
    assert apply_live(engine, counter, asyncio.run(read_topic(scratch_stream))) == 0
    assert effect_counts(engine) == (EVENTS, EVENTS)


def test_swap_waits_for_the_live_consumer_to_stop_and_the_replay_to_catch_up(
    scratch_db: ScratchDatabase, scratch_stream: Topic, counter: Projection
) -> None:
    engine = scratch_db.engine
    asyncio.run(replay(engine, KAFKA, counter))
    # More events arrive; the live consumer applies them and commits its offsets.
    more = 500
    asyncio.run(produce_events(scratch_stream, canary_events(scratch_stream, more, aggregates=7)))
    apply_live(engine, counter, asyncio.run(read_topic(scratch_stream)))
    assert effect_counts(engine) == (EVENTS + more, EVENTS + more)

    async def live_group_member(then: Any) -> Any:
        consumer = AIOKafkaConsumer(
            scratch_stream.name, bootstrap_servers=KAFKA, group_id=counter.name, enable_auto_commit=False
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
            end = await consumer.end_offsets(list(consumer.assignment()))
            await consumer.commit(end)
            return await then()
        finally:
            await consumer.stop()

    async def check() -> Any:
        return await check_live_consumer_stopped(engine, KAFKA, counter)

    with pytest.raises(SwapRefused, match="member"):
        asyncio.run(live_group_member(check))
    with pytest.raises(SwapRefused, match="has not reached"):
        asyncio.run(check())

    caught_up = asyncio.run(replay(engine, KAFKA, counter, resume=True))
    assert (caught_up.records, caught_up.applied) == (more, more)
    assert compare(engine, counter).identical
    asyncio.run(check())
    swap(engine, counter)
    assert effect_counts(engine) == (EVENTS + more, EVENTS + more)
    assert apply_live(engine, counter, asyncio.run(read_topic(scratch_stream))) == 0


def test_a_swap_interrupted_after_the_rename_is_finished_by_running_it_again(
    scratch_db: ScratchDatabase, counter: Projection, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = scratch_db.engine
    asyncio.run(replay(engine, KAFKA, counter))
    rebuilt = rows_of(engine, shadow_tables(counter)["canary_effects"])

    def crash(*args: Any) -> int:
        raise ConnectionError("the operator's laptop went to sleep")

    with monkeypatch.context() as patched:
        patched.setattr(replaying, "_move_identity", crash)
        with pytest.raises(ConnectionError):
            swap(engine, counter)
    assert "canary_effects__old" in table_names(engine) and "canary_effects__replay" not in table_names(engine)

    result = swap(engine, counter)

    assert result.recovered and result.inbox_rows_moved == EVENTS
    assert rows_of(engine, effects) == rebuilt
    assert "canary_effects__old" not in table_names(engine)
    assert len(inbox_ids(engine, counter.name)) == EVENTS and not inbox_ids(engine, replay_consumer(counter))
    with pytest.raises(SwapRefused, match="run the replay first"):
        swap(engine, counter)


def test_swap_hands_over_dead_letters_the_rebuild_left_or_resolved(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    engine = scratch_db.engine
    name = f"canary-poisoned-{uuid.uuid4().hex[:8]}"
    events = [*canary_events(scratch_stream, 150), *canary_events(scratch_stream, 2, aggregates=1, note="poison")]
    asyncio.run(produce_events(scratch_stream, events))
    poisoned = make_projection(name, scratch_stream, poison_note="poison")
    runner = ProjectionRunner(engine, poisoned, retry_backoff=0.01)
    assert runner.apply_batch(asyncio.run(read_topic(scratch_stream))).dead_lettered == 2

    def letters() -> list[tuple[str, str, str | None]]:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(dead_letters.c.consumer, dead_letters.c.status, dead_letters.c.resolution).order_by(
                    dead_letters.c.id
                )
            )
            return [(r.consumer, r.status, r.resolution) for r in rows]

    # Rebuilt with the handler still failing: the rebuild's dead letters replace the live ones.
    asyncio.run(replay(engine, KAFKA, poisoned))
    swap(engine, poisoned)
    assert [(consumer, status) for consumer, status, _ in letters()] == [(name, "pending")] * 2
    assert effect_counts(engine) == (150, 150)

    # Rebuilt after the fix: the events are applied, so their dead letters are no longer pending.
    fixed = make_projection(name, scratch_stream)
    asyncio.run(replay(engine, KAFKA, fixed))
    swap(engine, fixed)
    assert [(consumer, status) for consumer, status, _ in letters()] == [(name, "redriven")] * 2
    assert all("applied by the replay" in (resolution or "") for _, _, resolution in letters())
    assert effect_counts(engine) == (152, 152)
    assert apply_live(engine, fixed, asyncio.run(read_topic(scratch_stream))) == 0


# -- a projection with a natural key and a volatile column ---------------------------------

latest_metadata = sa.MetaData()
latest = sa.Table(
    "canary_latest",
    latest_metadata,
    sa.Column("aggregate_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("seen_at", sa.DateTime, nullable=False, server_default=sa.func.now()),
)


class CanaryLatest(Projection):
    """Per aggregate: its latest version and how many events it had; ``seen_at`` is when a row was written."""

    name = f"canary-latest-{uuid.uuid4().hex[:8]}"
    tables = (latest,)
    volatile_columns = {"canary_latest": ("seen_at",)}

    def __init__(self, topic: Topic) -> None:
        self.topics = (topic,)  # type: ignore[misc]

    @handles("ops.canary_emitted")
    def on_canary(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        table = ctx.table("canary_latest")
        ctx.execute(
            sa.text(
                f"INSERT INTO {table.name} (aggregate_id, version, events) VALUES (:a, :v, 1) "  # noqa: S608
                "ON DUPLICATE KEY UPDATE version = VALUES(version), events = events + 1, seen_at = NOW()"
            ),
            {"a": event.envelope.aggregate_id, "v": event.envelope.aggregate_version},
        )


def test_a_table_with_a_natural_key_is_compared_by_key_ignoring_volatile_columns(
    scratch_db: ScratchDatabase, scratch_stream: Topic
) -> None:
    engine = scratch_db.engine
    latest_metadata.create_all(engine)
    projection = CanaryLatest(scratch_stream)
    fill_and_apply_live(scratch_db, scratch_stream, projection, count=2000)
    with engine.begin() as conn:
        conn.execute(latest.update().values(seen_at=sa.func.now() - sa.text("INTERVAL 1 DAY")))

    asyncio.run(replay(engine, KAFKA, projection))
    assert compare(engine, projection).identical  # seen_at differs everywhere, and does not count

    with engine.begin() as conn:
        conn.execute(latest.update().where(latest.c.aggregate_id == "agg-7").values(events=1))
        conn.execute(latest.delete().where(latest.c.aggregate_id == "agg-8"))
    (table,) = compare(engine, projection).tables

    assert table.key == ("aggregate_id",) and table.columns == ("aggregate_id", "version", "events")
    assert table.differing_rows == 2
    differences = {d.key["aggregate_id"]: d for d in table.differences}
    assert differences["agg-7"].kind == "changed"
    assert differences["agg-7"].live is not None and differences["agg-7"].live["events"] == 1
    assert differences["agg-7"].rebuilt is not None and differences["agg-7"].rebuilt["events"] == 40
    assert differences["agg-8"].kind == "only in rebuilt"


# -- the command line ----------------------------------------------------------------------

_cli_projection: Projection | None = None


def cli_projection() -> Projection:
    """The factory `cloudctl replay tests.integration.test_replay:cli_projection` loads."""
    assert _cli_projection is not None
    return _cli_projection


def test_the_command_replays_compares_and_swaps(
    scratch_db: ScratchDatabase, counter: Projection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}._cli_projection", counter)
    app = typer.Typer()
    app.command()(replay_command)
    cli = CliRunner(env={"COLUMNS": "200"})
    base = [f"{__name__}:cli_projection", "--database-url", scratch_db.url, "--bootstrap", KAFKA]

    same = cli.invoke(app, [*base, "--compare"])
    assert same.exit_code == 0, same.output
    assert f"replaying {counter.name}" in same.output and f"{EVENTS}/{EVENTS}" in same.output
    assert "events/s" in same.output and "identical" in same.output

    with scratch_db.engine.begin() as conn:
        conn.execute(effects.update().where(effects.c.id == 77).values(note="tampered"))
    differs = cli.invoke(app, [*base, "--compare"])
    assert differs.exit_code == 1, differs.output
    assert "2 differing rows" in differs.output and "only in live: id=77" in differs.output
    assert "note=tampered" in differs.output and "differ from the live ones" in differs.output

    swapped = cli.invoke(app, [*base, "--compare", "--swap"])
    assert swapped.exit_code == 0, swapped.output
    assert "swapped in canary_effects" in swapped.output
    assert compare_after_swap_is_refused(scratch_db.engine, counter)
    with scratch_db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(effects.c.note == "tampered")).scalar() == 0

    wrong = cli.invoke(app, ["no_such_module:Thing", "--database-url", scratch_db.url])
    assert wrong.exit_code == 2 and "no_such_module" in wrong.output


def compare_after_swap_is_refused(engine: Engine, projection: Projection) -> bool:
    try:
        compare(engine, projection)
    except LookupError as exc:
        return "run the replay first" in str(exc)
    return False
