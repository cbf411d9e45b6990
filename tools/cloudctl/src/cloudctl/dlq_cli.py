"""cloudctl dlq — the dead letters of a service: list, show, redrive, discard.

cloudctl dlq list --service billing [--status all] [--consumer NAME]
cloudctl dlq show ID --service billing
cloudctl dlq redrive ID --service billing --projection billing_service.entrypoints.projection:BillingProjection
cloudctl dlq discard ID --service billing --reason "duplicate of ticket 1234, fixed by hand"

``--database-url`` reaches any database instead of a service's own (tests, a replay's copy).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.json import JSON
from rich.table import Table
from sqlalchemy.engine import Engine

from cloudctl.paths import LocalPaths
from cloudctl.stack import ALL_SERVICES, Secrets, database_url
from cpshared.db import make_engine
from cpshared.events import dlq

app = typer.Typer(help="Dead letters: events a projection could not apply.", no_args_is_help=True)
console = Console()

ServiceOption = Annotated[
    str | None, typer.Option("--service", "-s", help="The service whose database holds the dead letters.")
]
DatabaseUrlOption = Annotated[
    str | None, typer.Option("--database-url", help="A database URL instead of a service's own database.")
]


@contextmanager
def _engine(service: str | None, url: str | None) -> Iterator[Engine]:
    if (service is None) == (url is None):
        console.print("[red]name the database[/red]: either --service NAME or --database-url URL")
        raise typer.Exit(2)
    if service is not None:
        if service not in ALL_SERVICES:
            console.print(f"[red]unknown service {service!r}[/red]; one of: {', '.join(ALL_SERVICES)}")
            raise typer.Exit(2)
        url = database_url(service, Secrets(LocalPaths()).database_passwords()[service])
    assert url is not None
    engine = make_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(1)


@app.command("list")
def list_(
    service: ServiceOption = None,
    database_url_: DatabaseUrlOption = None,
    status: Annotated[str, typer.Option(help="pending, redriven, discarded or all.")] = "pending",
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's (projection's) dead letters.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, oldest first.")] = 100,
) -> None:
    """List dead letters, oldest first."""
    if status != "all" and status not in dlq.STATUSES:
        console.print(f"[red]unknown status {status!r}[/red]; one of: all, {', '.join(dlq.STATUSES)}")
        raise typer.Exit(2)
    with _engine(service, database_url_) as engine:
        letters = dlq.list_dead_letters(
            engine,
            status=None if status == "all" else status,  # type: ignore[arg-type]
            consumer=consumer,
            limit=limit,
        )
    table = Table(title=f"dead letters ({status})")
    for column in ("id", "consumer", "event type", "event id", "source", "attempts", "status", "failed at", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.consumer,
            letter.event_type,
            letter.event_id,
            f"{letter.topic}/{letter.partition}@{letter.offset}",
            str(letter.attempts),
            letter.status,
            letter.failed_at.isoformat(timespec="seconds"),
            letter.error.splitlines()[-1][:120] if letter.error else "",
        )
    console.print(table)
    if not letters:
        console.print("no dead letters")


@app.command()
def show(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id (see `list`).")],
    service: ServiceOption = None,
    database_url_: DatabaseUrlOption = None,
) -> None:
    """Show one dead letter: where it came from, the error, the decoded envelope."""
    with _engine(service, database_url_) as engine:
        try:
            detail = dlq.get_dead_letter(engine, dead_letter_id)
        except dlq.DeadLetterNotFound as exc:
            raise _fail(str(exc)) from None
    letter = detail.letter
    table = Table(title=f"dead letter {letter.id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in (
        ("consumer", letter.consumer),
        ("status", letter.status),
        ("event type", letter.event_type),
        ("event id", letter.event_id),
        ("source", f"{letter.topic} partition {letter.partition} offset {letter.offset}"),
        ("key", letter.message_key),
        ("attempts", str(letter.attempts)),
        ("failed at", letter.failed_at.isoformat()),
        ("resolved at", letter.resolved_at.isoformat() if letter.resolved_at else "-"),
        ("resolution", letter.resolution or "-"),
        ("error", letter.error),
    ):
        table.add_row(name, value)
    console.print(table)
    if detail.envelope_error:
        console.print(f"[yellow]{detail.envelope_error}[/yellow] ({detail.envelope_size} bytes)")
    if detail.envelope is not None:
        console.print(JSON(json.dumps(detail.envelope, default=str)))


@app.command()
def redrive(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id (see `list`).")],
    projection: Annotated[
        str,
        typer.Option(help="The fixed projection, module:Factory (a Projection class or a function returning one)."),
    ],
    service: ServiceOption = None,
    database_url_: DatabaseUrlOption = None,
) -> None:
    """Apply a pending dead letter now with the fixed projection, exactly once."""
    from cpshared.events.consumer_main import load_projection

    # Resolve module:Factory from the current directory too, as `python -m` would.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        loaded = load_projection(projection)
    except (Exception, SystemExit) as exc:
        console.print(f"[red]cannot load the projection {projection}[/red]: {exc!r}")
        raise typer.Exit(2) from None
    with _engine(service, database_url_) as engine:
        try:
            event_id = dlq.redrive(engine, loaded, dead_letter_id)
        except (LookupError, ValueError) as exc:
            raise _fail(f"not redriven: {exc}") from None
    console.print(f"[green]redriven[/green] dead letter {dead_letter_id}: event {event_id} applied by {loaded.name}")


@app.command()
def discard(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", help="The dead letter's id (see `list`).")],
    reason: Annotated[str, typer.Option(help="Why the event is given up on; kept with the dead letter.")],
    service: ServiceOption = None,
    database_url_: DatabaseUrlOption = None,
) -> None:
    """Give up on a pending dead letter, recording why."""
    with _engine(service, database_url_) as engine:
        try:
            dlq.discard(engine, dead_letter_id, reason)
        except (LookupError, ValueError) as exc:
            raise _fail(f"not discarded: {exc}") from None
    console.print(f"[green]discarded[/green] dead letter {dead_letter_id}")
