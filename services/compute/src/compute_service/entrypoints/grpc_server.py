"""The compute service's gRPC server process. It syncs the catalog from upstream at start and
keeps it synced (entrypoints/catalog_keeper.py): an upstream that does not answer is logged,
the server starts on the catalog it has, and the sync is tried again until it succeeds."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from compute_service import SERVICE_NAME, __version__
from compute_service.bootstrap import Compute, bootstrap
from compute_service.config import Settings
from compute_service.entrypoints import catalog_keeper
from compute_service.entrypoints.grpc_servicer import add_compute_servicer
from compute_service.entrypoints.placement_group_servicer import add_placement_group_servicer
from compute_service.entrypoints.server_servicer import add_server_servicer
from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    compute = bootstrap(
        settings.database_url,
        pool_size=settings.database_pool_size,
        hcloud_endpoint=settings.hcloud_endpoint,
        hcloud_token_file=settings.hcloud_token_file,
        identity_grpc_addr=settings.identity_grpc_addr,
        billing_grpc_addr=settings.billing_grpc_addr,
        service_key_file=settings.principal_service_key_file,
    )
    catalog_keeper.start(
        compute,
        retry_seconds=settings.catalog_retry_seconds,
        refresh_seconds=settings.catalog_refresh_seconds,
    )
    return lambda server: add_servicers(server, compute)


def add_servicers(server: aio.Server, compute: Compute) -> list[str]:
    """Every gRPC service compute answers, on ``server``; their full names."""
    return (
        add_compute_servicer(server, compute)
        + add_server_servicer(server, compute)
        + add_placement_group_servicer(server, compute)
    )


def main() -> None:
    run_grpc_service(
        service=SERVICE_NAME,
        version=__version__,
        migrations_dir=MIGRATIONS,
        settings_cls=Settings,
        register=register,
    )


if __name__ == "__main__":
    main()
