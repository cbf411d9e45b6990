"""`cloudctl billing run --period YYYY-MM`: issue the period's invoices now;
`cloudctl billing reconcile --period YYYY-MM`: check them against a rebuild from the streams.

Both go through billing's own door: its operations entrypoint
(``python -m billing_service.entrypoints.cli``), run as a process of its own against the billing
database with the service's credentials — the same handler as the BillingService RunInvoices
call, so it works whether or not the billing process runs. cloudctl names the local stack's
database and Kafka unless told otherwise; invoicing rules come from the CP_BILLING_* variables
(seller's country, tax table file, included VAT, payment terms), passed on in the environment.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import KAFKA_BOOTSTRAP, Secrets, database_url

app = typer.Typer(help="The billing service.", no_args_is_help=True)

ENTRYPOINT = "billing_service.entrypoints.cli"


def _billing(*args: str) -> None:
    """Run billing's operations entrypoint; its output and exit code are this command's."""
    done = subprocess.run([sys.executable, "-m", ENTRYPOINT, *args], capture_output=True, text=True, check=False)
    if done.stdout:
        typer.echo(done.stdout, nl=False)
    if done.stderr:
        typer.echo(done.stderr, err=True, nl=False)
    raise typer.Exit(done.returncode)


def _database(url: str | None) -> str:
    return url or database_url("billing", Secrets(LocalPaths()).database_passwords()["billing"])


@app.command("run")
def run(
    period: Annotated[str, typer.Option(help="The billing period, YYYY-MM.")],
    database: Annotated[
        str | None, typer.Option("--database-url", help="Billing's database (default: the local stack's).")
    ] = None,
) -> None:
    """Bill every account with unbilled usage up to the end of PERIOD (once: a second run issues nothing)."""
    _billing("run", "--period", period, "--database-url", _database(database))


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
    args = ["reconcile", "--period", period, "--database-url", _database(database), "--bootstrap", bootstrap]
    args += ["--show", str(show)] + (["--keep-tables"] if keep_tables else [])
    for name in topic or []:
        args += ["--topic", name]
    _billing(*args)
