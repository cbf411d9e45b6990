"""`cloudctl compute sync-catalog`: fetch server types and images from upstream now.

Like `cloudctl admin create`, it runs the compute service's own operator command (`python -m
compute_service.entrypoints.cli sync-catalog`) against the compute database with the service's
credentials (the same code, checks and outbox events as the server's start-up sync), so it works
whether or not the compute process runs; cloudctl never imports compute's service layer.
Upstream is the stack's: the Hetzner simulator and the token file `cloudctl up` made, unless
CP_HCLOUD_ENDPOINT / CP_HCLOUD_TOKEN_FILE say otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import HETZNER_SIM_PORT, Secrets, database_url, hcloud_token_file

COMPUTE_CLI = "compute_service.entrypoints.cli"

app = typer.Typer(help="The compute service.", no_args_is_help=True)


@app.command("sync-catalog")
def sync_catalog() -> None:
    """Upsert server types and system images from upstream (prices and availability are kept)."""
    paths = LocalPaths()
    # The database URL (with its password) travels in the environment, never on a command line.
    env = os.environ | {
        "CP_DATABASE_URL": database_url("compute", Secrets(paths).database_passwords()["compute"]),
        "CP_HCLOUD_ENDPOINT": os.environ.get("CP_HCLOUD_ENDPOINT", f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"),
        "CP_HCLOUD_TOKEN_FILE": os.environ.get("CP_HCLOUD_TOKEN_FILE") or hcloud_token_file(paths),
    }
    done = subprocess.run(
        [sys.executable, "-m", COMPUTE_CLI, "sync-catalog"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        typer.echo(
            f"catalog sync failed: {done.stderr.strip() or f'{COMPUTE_CLI} exited with {done.returncode}'}", err=True
        )
        raise typer.Exit(1)
    report = json.loads(done.stdout)
    typer.echo(
        f"server types: {report['server_types_created']} added, {report['server_types_updated']} updated; "
        f"images: {report['images_created']} added, {report['images_updated']} updated"
    )
