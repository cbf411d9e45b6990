"""Replay benchmark: rebuild the canary counter projection from 1,000,000 events. Target: <= 60 s.

Fills a scratch topic (6 partitions, 50 interleaved aggregates) with canary envelopes
straight through aiokafka, then times ``cpshared.events.replay.replay`` of the canary
counter projection into a scratch database (one effect row and one inbox row per event),
checks that every event left exactly one effect, and prints the figures. The topic and the
database are deleted afterwards.

Run from the repository root with the local MariaDB and Kafka up (`cloudctl up --infra-only`):

    .venv/bin/python -m bench.replay_bench [--events 1000000] [--batch 5000] [--profile] [--compare-swap]

``--profile`` runs cProfile in both threads of the replay: the event loop (Kafka fetch,
merge) and the worker that applies batches (ProjectionRunner), and prints the top entries.
``--compare-swap`` also copies the rebuilt rows into the live table and times ``compare``
(streaming both tables) and ``swap`` (the inbox handed over row by row): what an operator
waits for after a replay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/replay_bench.py` as well as `python -m bench.replay_bench`
    sys.path.insert(0, str(ROOT))

from cloudctl.infra.mariadb import MariaDB  # noqa: E402
from cloudctl.paths import LocalPaths  # noqa: E402
from cpshared.events.projection import ProjectionRunner  # noqa: E402
from cpshared.events.replay import ReplayProgress, replay  # noqa: E402
from tests.integration.backbone import (  # noqa: E402
    KAFKA,
    ScratchDatabase,
    canary_events,
    effects,
    make_projection,
    produce_events,
    scratch_database,
    scratch_topic,
)

TARGET_SECONDS = 60.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class CpuMeter:
    """CPU seconds used by this process and by the MariaDB server: on a shared machine the wall
    time alone does not say whether the replay was slow or merely waited for a CPU."""

    def __init__(self, paths: LocalPaths) -> None:
        pid_file = MariaDB(paths.root).server_pid_file
        self._server_pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        server = 0.0
        if self._server_pid is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{self._server_pid}/stat").read_text().rsplit(")", 1)[1].split()
                server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return time.process_time(), server, time.monotonic()

    def report(self) -> str:
        own, server, wall = (b - a for a, b in zip(self._start, self._now(), strict=True))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        peak = peak_rss_mib()
        return (
            f"CPU: replay process {own:.1f}s, MariaDB {server:.1f}s, in {wall:.1f}s wall on {os.cpu_count()} CPUs "
            f"(load average {load}); peak RSS of this process {peak:,.0f} MiB"
        )


def progress_printer() -> Callable[[ReplayProgress], None]:
    last = [0.0]

    def show(p: ReplayProgress) -> None:
        if p.elapsed - last[0] >= 5 or p.done == p.total:
            last[0] = p.elapsed
            eta = f"{p.eta_seconds:5.1f}s" if p.eta_seconds is not None else "   ?"
            print(f"  {p.done:>10,} / {p.total:,}  {p.events_per_second:>9,.0f} events/s  ETA {eta}", flush=True)

    return show


@contextlib.contextmanager
def profiled_apply(profile: cProfile.Profile) -> Iterator[None]:
    """Profile every ProjectionRunner.apply_batch call, in whichever worker thread it runs."""
    original = ProjectionRunner.apply_batch

    def apply_batch(self: ProjectionRunner, records: Any) -> Any:
        profile.enable()
        try:
            return original(self, records)
        finally:
            profile.disable()

    ProjectionRunner.apply_batch = apply_batch  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProjectionRunner.apply_batch = original  # type: ignore[method-assign]


def print_profile(title: str, profile: cProfile.Profile, lines: int = 25) -> None:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(lines)
    print(f"\n== {title} (by own time) ==")
    print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--fetch-mb", type=float, default=1.0, help="bytes per partition fetch, in MiB")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--compare-swap", action="store_true")
    args = parser.parse_args()

    paths = LocalPaths(ROOT)
    with (
        contextlib.contextmanager(scratch_topic)(args.partitions) as topic,
        contextlib.contextmanager(scratch_database)(paths) as db,
    ):
        started = time.monotonic()
        produced = asyncio.run(produce_events(topic, canary_events(topic, args.events)))
        fill = time.monotonic() - started
        print(
            f"filled {topic.name}: {produced:,} events in {fill:.1f}s ({produced / fill:,.0f} events/s); "
            f"peak RSS so far {peak_rss_mib():,.0f} MiB"
        )

        projection = make_projection("canary-counter", topic)
        loop_profile, apply_profile = cProfile.Profile(), cProfile.Profile()
        meter = CpuMeter(paths)
        with profiled_apply(apply_profile) if args.profile else contextlib.nullcontext():
            if args.profile:
                loop_profile.enable()
            result = asyncio.run(
                replay(
                    db.engine,
                    KAFKA,
                    projection,
                    progress=progress_printer(),
                    batch=args.batch,
                    max_fetch_bytes=int(args.fetch_mb * 2**20),
                )
            )
            if args.profile:
                loop_profile.disable()

        cpu = meter.report()
        rows, distinct = effect_rows(db)
        print(
            f"replayed {result.records:,} events in {result.seconds:.1f}s: "
            f"{result.events_per_second:,.0f} events/s (batch {args.batch}, {args.partitions} partitions); "
            f"applied {result.applied:,}, {rows:,} effect rows, {distinct:,} distinct events"
        )
        print(cpu)
        if args.profile:
            print_profile("event loop thread: Kafka fetch and merge", loop_profile)
            print_profile("worker thread: ProjectionRunner.apply_batch", apply_profile)
        ok = rows == distinct == produced and result.applied == produced
        if not ok:
            print("FAILED: the rebuilt table does not hold exactly one effect per event")
            return 1
        if args.compare_swap:
            time_compare_and_swap(db, projection)
        scaled = result.seconds * 1_000_000 / max(produced, 1)
        verdict = "meets" if scaled <= TARGET_SECONDS else "MISSES"
        print(f"1,000,000 events would take {scaled:.1f}s: {verdict} the target of {TARGET_SECONDS:.0f}s")
        return 0 if scaled <= TARGET_SECONDS else 1


def time_compare_and_swap(db: ScratchDatabase, projection: Any) -> None:
    import sqlalchemy as sa

    from cpshared.events.replay import compare, swap

    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO canary_effects SELECT * FROM canary_effects__replay"))
    started = time.monotonic()
    report = compare(db.engine, projection)
    compared = time.monotonic() - started
    table = report.tables[0]
    print(
        f"compared {table.live_rows:,} live with {table.rebuilt_rows:,} rebuilt rows in {compared:.1f}s: "
        f"{'identical' if report.identical else f'{table.differing_rows:,} rows differ'}"
    )
    started = time.monotonic()
    swapped = swap(db.engine, projection)
    print(f"swapped, {swapped.inbox_rows_moved:,} inbox rows handed over, in {time.monotonic() - started:.1f}s")


def effect_rows(db: ScratchDatabase) -> tuple[int, int]:
    import sqlalchemy as sa

    shadow = effects.to_metadata(sa.MetaData(), name=f"{effects.name}__replay")
    with db.engine.connect() as conn:
        rows, distinct = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(shadow.c.event_id)))).one()
    return int(rows), int(distinct)


if __name__ == "__main__":
    raise SystemExit(main())
