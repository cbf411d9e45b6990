"""`cloudctl billing run --period YYYY-MM`: issue the period's invoices now;
`cloudctl billing reconcile --period YYYY-MM`: check them against a rebuild from the streams.

It runs the billing service's own invoice run against the billing database with the
service's credentials (the same code as the BillingService RunInvoices call), so it works
whether or not the billing process runs. Invoicing rules come from the CP_BILLING_*
variables (seller's country, tax table file, included VAT, payment terms).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from billing_service.config import BillingRules
from billing_service.domain.invoice import parse_period
from billing_service.service_layer.invoice_run import run_invoices
from cloudctl.paths import LocalPaths
from cloudctl.stack import KAFKA_BOOTSTRAP, Secrets, database_url
from cpshared.db import make_engine
from cpshared.settings import load_settings
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic, TopicKind

app = typer.Typer(help="The billing service.", no_args_is_help=True)


@app.command("run")
def run(
    period: Annotated[str, typer.Option(help="The billing period, YYYY-MM.")],
    database: Annotated[
        str | None, typer.Option("--database-url", help="Billing's database (default: the local stack's).")
    ] = None,
) -> None:
    """Bill every account with unbilled usage up to the end of PERIOD (once: a second run issues nothing)."""
    try:
        month = parse_period(period)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    rules = load_settings(BillingRules)
    url = database or database_url("billing", Secrets(LocalPaths()).database_passwords()["billing"])
    engine = make_engine(url, pool_size=1)
    try:
        report = run_invoices(engine, month, rules)
    finally:
        engine.dispose()
    for invoice in report.issued:
        account = f"{invoice.account.account_type} {invoice.account.account_id}"
        typer.echo(f"{invoice.invoice_number}  {account:<22} {invoice.total:>12} {invoice.currency}")
    typer.echo(f"{len(report.issued)} invoice(s) issued for {month:%Y-%m}; {report.already_invoiced} already invoiced")


@app.command("reconcile")
def reconcile(
    period: Annotated[str, typer.Option(help="The billing period, YYYY-MM.")],
    database: Annotated[
        str | None, typer.Option("--database-url", help="Billing's database (default: the local stack's).")
    ] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", help="Kafka bootstrap servers.")] = KAFKA_BOOTSTRAP,
    keep_tables: Annotated[
        bool, typer.Option("--keep-tables", help="Keep the rebuilt *__recon tables for inspection.")
    ] = False,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="A stream to replay instead of usage.events and identity.events (repeatable)."),
    ] = None,
    show: Annotated[int, typer.Option("--show", min=1, help="Differences to list at most.")] = 200,
) -> None:
    """Rebuild billing from its streams (offset 0) and diff PERIOD's invoices line by line; exit 1 on any difference."""
    from rich.console import Console
    from rich.table import Table

    from billing_service.service_layer.reconcile import ReconcileBusy
    from billing_service.service_layer.reconcile import reconcile as reconciling

    try:
        month = parse_period(period)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    console = Console()
    rules = load_settings(BillingRules)
    url = database or database_url("billing", Secrets(LocalPaths()).database_passwords()["billing"])
    engine = make_engine(url, pool_size=2)
    try:
        streams = (
            [Topic(name=t, kind=TopicKind.DOMAIN, partitions=1) for t in topic]
            if topic
            else [USAGE_EVENTS, IDENTITY_EVENTS]
        )
        report = asyncio.run(reconciling(engine, bootstrap, month, rules, topics=streams, keep_tables=keep_tables))
    except ReconcileBusy as exc:
        console.print(f"[red]cannot reconcile[/red]: {exc}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(
        f"{month:%Y-%m}: {report.events_replayed:,} events replayed in {report.replay_seconds:.1f}s; "
        f"{report.issued_invoices} invoice(s) issued, {report.recomputed_invoices} recomputed"
    )
    if report.clean:
        console.print("[green]no difference[/green]")
        return
    table = Table("account", "invoice number", "line", "field", "issued", "recomputed", title="differences")
    for d in report.differences[:show]:
        table.add_row(d.account, d.invoice_number, d.line, d.field, d.issued, d.recomputed)
    console.print(table)
    if len(report.differences) > show:
        console.print(f"… and {len(report.differences) - show} more")
    console.print(f"[red]{len(report.differences)} difference(s)[/red]")
    raise typer.Exit(1)
