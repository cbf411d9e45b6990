"""cloudctl — the operators' command line.

cloudctl up [--infra-only]   install what is missing and start the stack
cloudctl down [--keep-infra] stop what `up` started
cloudctl status              every process: pid, port, health, memory
cloudctl topics [--ensure]   the declared Kafka topics and their configuration
cloudctl migrate [SERVICE]   run the services' database migrations
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudctl import admin_cli, audit_cli, billing_cli, compute_cli, dlq_cli, replay_cli, retention_cli
from cloudctl.control import Stack
from cloudctl.stack import ALL_SERVICES, KAFKA_BOOTSTRAP
from cpshared.kafka_admin import describe_topics_async
from cpshared.topics import ALL_TOPICS

app = typer.Typer(
    help="Operate Cloud Platform: the local stack, topics, migrations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def say(message: str) -> None:
    console.print(message)


@app.command()
def up(
    infra_only: Annotated[
        bool, typer.Option("--infra-only", help="MariaDB, Kafka, databases, topics and migrations; no services.")
    ] = False,
) -> None:
    """Install what is missing and start MariaDB, Kafka and every service; wait until healthy."""
    started = time.monotonic()
    stack = Stack()
    if infra_only:
        stack.infra_up(say)
        stack.databases(say)
        stack.topics()
        stack.migrate(say)
        say(f"[green]infrastructure ready[/green] in {time.monotonic() - started:.1f}s")
        return
    if not stack.up(say):
        say("[red]the stack is not healthy[/red]: see `cloudctl status` and .local/logs/")
        raise typer.Exit(1)
    say(f"[green]Cloud Platform is up[/green] in {time.monotonic() - started:.1f}s")
    say(f"gateway: [bold]{stack.url()}[/bold]")


@app.command()
def down(
    keep_infra: Annotated[bool, typer.Option("--keep-infra", help="Stop only the services.")] = False,
) -> None:
    """Stop everything `up` started, by pid."""
    Stack().down(say, keep_infra=keep_infra)


@app.command()
def status() -> None:
    """Show each process of the stack with its pid, port, health and resident memory."""
    rows = Stack().status()
    table = Table(title="Cloud Platform — local stack")
    for column in ("process", "pid", "port", "health", "memory (RSS)", "detail"):
        table.add_column(column, overflow="fold")
    total = 0
    for row in rows:
        rss = row.rss_bytes or 0
        total += rss
        health = "SERVING" if row.healthy else "DOWN"
        table.add_row(
            row.name,
            str(row.pid or "-"),
            str(row.port or "-"),
            f"[green]{health}[/]" if row.healthy else f"[red]{health}[/]",
            f"{rss / 2**20:,.0f} MiB" if row.rss_bytes else "-",
            "" if row.detail == "SERVING" else row.detail,
        )
    table.add_section()
    table.add_row("total", "", "", "", f"{total / 2**20:,.0f} MiB")
    console.print(table)
    if not all(row.healthy for row in rows):
        raise typer.Exit(1)


@app.command()
def topics(
    ensure: Annotated[
        bool, typer.Option("--ensure", help="Create missing topics and reconcile their configuration.")
    ] = False,
) -> None:
    """List the topics declared in code with their configuration on the broker."""
    import asyncio

    if ensure:
        for change in Stack().topics():
            if change.action != "unchanged":
                say(f"{change.topic}: {change.action} {change.detail}")
    actual = asyncio.run(describe_topics_async(KAFKA_BOOTSTRAP))
    table = Table(title=f"Kafka topics on {KAFKA_BOOTSTRAP}")
    for column in ("topic", "kind", "partitions", "retention.ms", "cleanup.policy", "on broker"):
        table.add_column(column)
    for topic in ALL_TOPICS:
        present = actual.get(topic.name)
        table.add_row(
            topic.name,
            topic.kind.value,
            str(topic.partitions),
            present.get("retention.ms", "?") if present else str(topic.retention_ms),
            present.get("cleanup.policy", "?") if present else topic.cleanup_policy,
            "yes" if present else "[red]missing[/red]",
        )
    console.print(table)


@app.command()
def migrate(
    service: Annotated[str | None, typer.Argument(help="One service; all of them when omitted.")] = None,
) -> None:
    """Run the database migrations of every service (or one) up to head."""
    if service is not None and service not in ALL_SERVICES:
        say(f"[red]unknown service {service!r}[/red]; one of: {', '.join(ALL_SERVICES)}")
        raise typer.Exit(2)
    Stack().migrate(say, (service,) if service else ALL_SERVICES)


@app.command()
def canary(
    service: Annotated[str, typer.Argument(help="The service whose pipeline to check.")],
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many canary events to send.")] = 10,
    note: Annotated[str, typer.Option(help="Free text carried by the canaries.")] = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for them on the stream.")] = 60.0,
) -> None:
    """Send canary events through SERVICE's outbox and wait until they arrive on its stream."""
    from cloudctl.canary import send_canaries
    from cloudctl.paths import LocalPaths
    from cloudctl.stack import Secrets, database_url

    if service not in ALL_SERVICES:
        say(f"[red]unknown service {service!r}[/red]; one of: {', '.join(ALL_SERVICES)}")
        raise typer.Exit(2)
    password = Secrets(LocalPaths()).database_passwords()[service]
    run = send_canaries(service, database_url(service, password), KAFKA_BOOTSTRAP, count, note, timeout)
    colour = "green" if run.complete else "red"
    say(
        f"[{colour}]{run.received}/{run.sent} canaries[/{colour}] of run {run.run_id} arrived on {run.topic} "
        f"in {run.seconds:.2f}s"
    )
    if not run.complete:
        raise typer.Exit(1)


app.command(name="replay")(replay_cli.replay)


@app.command()
def mail(
    to: Annotated[str | None, typer.Option(help="Only mail to this address.")] = None,
    last: Annotated[int, typer.Option(min=1, help="Show this many, newest last.")] = 10,
) -> None:
    """Show the mail the local SMTP sink received (verification links, invitations)."""
    from cloudctl.infra.mailsink import MailSink

    for message in MailSink(Stack().paths.root).messages(to)[-last:]:
        console.rule(f"{message.subject} → {message.to}")
        console.print(message.body, markup=False, highlight=False)


app.add_typer(dlq_cli.app, name="dlq", help="Dead letters: list, show, redrive, discard.")
app.add_typer(audit_cli.app, name="audit", help="The audit log: verify, digest, prune.")
app.add_typer(admin_cli.app, name="admin", help="Administrators: create the first admin.")
app.add_typer(compute_cli.app, name="compute", help="The compute service: sync the catalog from upstream.")
app.add_typer(billing_cli.app, name="billing", help="Billing: run the invoices of a period.")
app.add_typer(retention_cli.app, name="retention", help="Data retention: run every owner's retention now.")


def run() -> None:
    """The `cloudctl` command: the app, with the usual operational failures told in one line."""
    from aiokafka.errors import KafkaConnectionError
    from sqlalchemy.exc import OperationalError

    from cloudctl.proc import ProcessError

    try:
        app()
    except KafkaConnectionError as exc:
        console.print(f"[red]Kafka is not reachable[/red] ({exc}); is the stack up? `cloudctl status`")
        raise SystemExit(1) from None
    except OperationalError as exc:
        console.print(f"[red]the database is not reachable[/red] ({exc.orig}); is the stack up? `cloudctl status`")
        raise SystemExit(1) from None
    except (ProcessError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise SystemExit(1) from None


if __name__ == "__main__":
    run()
