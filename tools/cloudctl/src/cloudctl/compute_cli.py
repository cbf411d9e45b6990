"""`cloudctl compute sync-catalog`: fetch server types and images from upstream now.

Like `cloudctl admin create`, it runs the compute service's own use case against the compute
database with the service's credentials (the same code, checks and outbox events as the
server's start-up sync), so it works whether or not the compute process runs. Upstream is
the stack's: the Hetzner simulator and the token file `cloudctl up` made, unless
CP_HCLOUD_ENDPOINT / CP_HCLOUD_TOKEN_FILE say otherwise.
"""

from __future__ import annotations

import os

import typer

from cloudctl.paths import LocalPaths
from cloudctl.stack import HETZNER_SIM_PORT, Secrets, database_url, hcloud_token_file
from compute_service.bootstrap import bootstrap
from compute_service.service_layer import catalog
from cpshared.errors import DomainError

app = typer.Typer(help="The compute service.", no_args_is_help=True)


@app.command("sync-catalog")
def sync_catalog() -> None:
    """Upsert server types and system images from upstream (prices and availability are kept)."""
    paths = LocalPaths()
    url = database_url("compute", Secrets(paths).database_passwords()["compute"])
    compute = bootstrap(
        url,
        pool_size=1,
        hcloud_endpoint=os.environ.get("CP_HCLOUD_ENDPOINT", f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"),
        hcloud_token_file=os.environ.get("CP_HCLOUD_TOKEN_FILE") or hcloud_token_file(paths),
    )
    try:
        report = catalog.sync_catalog(compute.catalog_source(), compute.uow())
    except DomainError as exc:
        typer.echo(f"catalog sync failed: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    finally:
        compute.close()
    typer.echo(
        f"server types: {report.server_types_created} added, {report.server_types_updated} updated; "
        f"images: {report.images_created} added, {report.images_updated} updated"
    )
