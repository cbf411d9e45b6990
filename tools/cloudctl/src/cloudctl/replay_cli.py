"""`cloudctl replay <projection> [--compare] [--swap]`: rebuild a projection from its streams.

The projection is named as ``module:Factory`` (a Projection subclass or a callable without
arguments that returns one), the database it lives in by ``--service NAME`` (the local
stack's database of that service) or ``--database-url``.

- ``cloudctl replay billing_service.entrypoints.projection:BillingProjection --service billing``
  rebuilds the projection into shadow tables ``<table>__replay`` under its own consumer
  identity, with a progress bar; the live consumer keeps running.
- ``--compare`` then compares the rebuilt tables with the live ones (rows, content hash, the
  rows that differ) and exits with 1 if they differ.
- ``--swap`` promotes the rebuilt tables. The live consumer of the projection must be
  STOPPED for that; the command checks that its consumer group has no members, catches up
  with the events that arrived meanwhile, and refuses otherwise.
- ``--resume`` continues the previous replay from where it stopped instead of starting over
  (e.g. replay while live, stop the consumer, then ``--resume --swap``).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cloudctl.paths import LocalPaths
from cloudctl.stack import ALL_SERVICES, KAFKA_BOOTSTRAP, Secrets, database_url
from cpshared.db import make_engine
from cpshared.events import replay as replaying
from cpshared.events.projection import Projection


def load_projection(spec: str) -> Projection:
    """``module:Factory`` -> a Projection instance; a clear message when it is not one."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"{spec!r}: name the projection as module:Factory", param_hint="PROJECTION")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"{spec!r}: {exc}", param_hint="PROJECTION") from exc
    projection = found() if callable(found) else found
    if not isinstance(projection, Projection):
        raise typer.BadParameter(
            f"{spec!r} gave a {type(projection).__name__}, not a Projection", param_hint="PROJECTION"
        )
    return projection


def resolve_database_url(service: str | None, url: str | None) -> str:
    if (service is None) == (url is None):
        raise typer.BadParameter("give exactly one of --service and --database-url")
    if url is not None:
        return url
    assert service is not None
    if service not in ALL_SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of: {', '.join(ALL_SERVICES)}")
    return database_url(service, Secrets(LocalPaths()).database_passwords()[service])


def replay(
    projection: Annotated[
        str, typer.Argument(help="The projection as module:Factory (a Projection subclass or zero-argument callable).")
    ],
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Compare the rebuilt tables with the live ones; exit 1 if they differ (unless --swap)."
        ),
    ] = False,
    swap: Annotated[
        bool,
        typer.Option("--swap", help="Promote the rebuilt tables. The projection's live consumer must be stopped."),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the previous replay from its saved positions.")
    ] = False,
    service: Annotated[
        str | None, typer.Option("--service", help="The service whose database holds the projection.")
    ] = None,
    database_url_: Annotated[
        str | None, typer.Option("--database-url", help="The database that holds the projection (SQLAlchemy URL).")
    ] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", help="Kafka bootstrap servers.")] = KAFKA_BOOTSTRAP,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Events per database transaction.")] = 5000,
    show: Annotated[int, typer.Option("--show", min=0, help="Differing rows to list per table.")] = 20,
) -> None:
    """Rebuild a projection from offset 0 into fresh tables; optionally compare them with the live ones and swap."""
    console = Console()
    target = load_projection(projection)
    engine = make_engine(resolve_database_url(service, database_url_))
    try:
        if swap:
            # Fail before an hour of replay, not after it.
            _refuse_unless_stopped(engine, bootstrap, target, console, require_caught_up=False)
        try:
            result = _replay_with_progress(engine, bootstrap, target, batch=batch, resume=resume, console=console)
        except LookupError as missing:  # a topic that does not exist, nothing to resume
            console.print(f"[red]cannot replay[/red]: {missing}")
            raise typer.Exit(2) from None
        console.print(
            f"[green]rebuilt[/green] {', '.join(result.tables.values())} as [bold]{result.consumer}[/bold]: "
            f"{result.records:,} events ({result.applied:,} applied, {result.duplicates:,} duplicates, "
            f"{result.ignored:,} ignored, {result.dead_lettered:,} dead-lettered) "
            f"in {result.seconds:.1f}s, {result.events_per_second:,.0f} events/s"
        )
        differ = False
        if compare:
            report = replaying.compare(engine, target, limit=show)
            _print_report(report, console)
            _warn_if_live_is_ahead(engine, bootstrap, target, console)
            differ = not report.identical
        if swap:
            _refuse_unless_stopped(engine, bootstrap, target, console, require_caught_up=True)
            try:
                swapped = replaying.swap(engine, target)
            except replaying.SwapRefused as refused:
                console.print(f"[red]not swapping[/red]: {refused}")
                raise typer.Exit(2) from None
            console.print(
                f"[green]swapped in[/green] {', '.join(swapped.tables)}; "
                f"{swapped.inbox_rows_moved:,} inbox rows now belong to [bold]{target.name}[/bold]: "
                "start its consumer again"
            )
        elif differ:
            raise typer.Exit(1)
    finally:
        engine.dispose()


def _replay_with_progress(
    engine: Any, bootstrap: str, projection: Projection, *, batch: int, resume: bool, console: Console
) -> replaying.ReplayResult:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"replaying {projection.name}", total=None, rate=0.0)

        def show(progress: replaying.ReplayProgress) -> None:
            bar.update(task, total=progress.total, completed=progress.done, rate=progress.events_per_second)

        return asyncio.run(replaying.replay(engine, bootstrap, projection, progress=show, batch=batch, resume=resume))


def _refuse_unless_stopped(
    engine: Any, bootstrap: str, projection: Projection, console: Console, *, require_caught_up: bool
) -> None:
    try:
        asyncio.run(
            replaying.check_live_consumer_stopped(engine, bootstrap, projection, require_caught_up=require_caught_up)
        )
    except replaying.SwapRefused as refused:
        console.print(f"[red]not swapping[/red]: {refused}")
        raise typer.Exit(2) from None


def _warn_if_live_is_ahead(engine: Any, bootstrap: str, projection: Projection, console: Console) -> None:
    status = asyncio.run(replaying.live_consumer_status(bootstrap, projection))
    positions = replaying.saved_positions(engine, replaying.replay_consumer(projection))
    behind = replaying.lag_behind_live(status, positions)
    if behind:
        console.print(
            f"[yellow]note[/yellow]: the live consumer has committed {sum(behind.values()):,} events the replay "
            "has not read; differences may be only those. For an exact comparison stop the consumer "
            "and run with --resume --compare."
        )


def _print_report(report: replaying.ComparisonReport, console: Console) -> None:
    table = Table(title="live vs rebuilt")
    for column in ("table", "live rows", "rebuilt rows", "live hash", "rebuilt hash", "equal?"):
        table.add_column(column, overflow="fold")
    for t in report.tables:
        table.add_row(
            t.table,
            f"{t.live_rows:,}",
            f"{t.rebuilt_rows:,}",
            t.live_hash[:16],
            t.rebuilt_hash[:16],
            "[green]yes[/green]" if t.equal else "[red]NO[/red]",
        )
    console.print(table)
    for t in report.tables:
        if not t.differing_rows:
            continue
        identity = f"by key ({', '.join(t.key)})" if t.key else "by content (no natural key)"
        console.print(f"[bold]{t.table}[/bold]: {t.differing_rows:,} differing rows, compared {identity}")
        for difference in t.differences:
            key = ", ".join(f"{k}={_show(v)}" for k, v in difference.key.items())
            console.print(f"  {difference.kind}: {key}")
            for side, row in (("live", difference.live), ("rebuilt", difference.rebuilt)):
                if row is not None:
                    console.print(f"    {side:>7}: " + ", ".join(f"{k}={_show(v)}" for k, v in row.items()))
        if t.differing_rows > len(t.differences):
            console.print(f"  … and {t.differing_rows - len(t.differences):,} more")
    console.print(
        "[green]identical[/green]: the rebuilt tables equal the live ones"
        if report.identical
        else "[red]the rebuilt tables differ from the live ones[/red]"
    )


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
