"""`cloudctl billing run --period YYYY-MM`: issue the period's invoices now.

It runs the billing service's own invoice run against the billing database with the
service's credentials (the same code as the BillingService RunInvoices call), so it works
whether or not the billing process runs. Invoicing rules come from the CP_BILLING_*
variables (seller's country, tax table file, included VAT, payment terms).
"""

from __future__ import annotations

from typing import Annotated

import typer

from billing_service.config import BillingRules
from billing_service.domain.invoice import parse_period
from billing_service.service_layer.invoice_run import run_invoices
from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, database_url
from cpshared.db import make_engine
from cpshared.settings import load_settings

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
