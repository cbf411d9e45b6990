"""The network service's gRPC server process."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service
from network_service import SERVICE_NAME, __version__
from network_service.bootstrap import Network, bootstrap
from network_service.config import Settings
from network_service.entrypoints.firewall_servicer import add_firewall_servicer
from network_service.entrypoints.floating_ip_servicer import add_floating_ip_servicer
from network_service.entrypoints.load_balancer_servicer import add_load_balancer_servicers
from network_service.entrypoints.network_servicer import add_network_servicer
from network_service.entrypoints.primary_ip_servicer import add_primary_ip_servicer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    network = bootstrap(
        settings.database_url,
        pool_size=settings.database_pool_size,
        identity_grpc_addr=settings.identity_grpc_addr,
        compute_grpc_addr=settings.compute_grpc_addr,
        service_key_file=settings.principal_service_key_file,
    )
    return lambda server: add_servicers(server, network, settings.create_wait_seconds)


def add_servicers(server: aio.Server, network: Network, create_wait_seconds: float = 30.0) -> list[str]:
    """Every gRPC service network answers, on ``server``; their full names."""
    return (
        add_floating_ip_servicer(server, network, create_wait_seconds)
        + add_network_servicer(server, network, create_wait_seconds)
        + add_firewall_servicer(server, network)
        + add_primary_ip_servicer(server, network, create_wait_seconds)
        + add_load_balancer_servicers(server, network)
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
