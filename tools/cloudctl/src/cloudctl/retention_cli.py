"""`cloudctl retention run`: apply the data retention of every owner now.

Each owner keeps its own retention as code (the seed's clean_old_metrics, split by owner) and
runs it on a schedule; this runs the owner's own operator command against its database with
the service's credentials, so it works whether or not the service's processes run. cloudctl
never imports a service's handlers. Today: monitoring's server_metrics (day partitions older
than CP_METRICS_RETENTION_DAYS, 30 by default, are dropped; the days ahead get theirs) and
alert_history (alerts resolved more than CP_ALERT_HISTORY_RETENTION_DAYS ago, 60), identity's
login_activity (attempts older than CP_LOGIN_ACTIVITY_RETENTION_DAYS, 90) and billing's
usage_records (billed on invoices of periods that ended more than CP_USAGE_RETENTION_DAYS ago, 90).
Each owner's command answers one JSON line per table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import Secrets, database_url

OWNERS = {
    "monitoring": "monitoring_service.entrypoints.cli",
    "identity": "identity_service.entrypoints.cli",
    "billing": "billing_service.entrypoints.cli",
}
"""The services whose operator command has a ``retention`` subcommand."""

app = typer.Typer(help="Data retention.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Drop what every owner's retention says is too old, now."""
    paths = LocalPaths()
    passwords = Secrets(paths).database_passwords()
    failed = False
    for service, module in OWNERS.items():
        # The database URL (with its password) travels in the environment, never on a command line.
        env = os.environ | {"CP_DATABASE_URL": database_url(service, passwords[service])}
        done = subprocess.run(
            [sys.executable, "-m", module, "retention"], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            typer.echo(f"{service}: retention failed: {done.stderr.strip() or f'exit {done.returncode}'}", err=True)
            failed = True
            continue
        for line in done.stdout.splitlines():
            report = json.loads(line)
            dropped = report.get("partitions_dropped")
            typer.echo(
                f"{service} {report['table']}: {report['rows_removed']} rows removed"
                + (f" ({len(dropped)} day partitions dropped)" if dropped is not None else "")
            )
    if failed:
        raise typer.Exit(1)
