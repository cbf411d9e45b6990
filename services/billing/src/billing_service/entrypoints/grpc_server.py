"""The billing service's gRPC server process (and its keeper and retention threads)."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from billing_service import SERVICE_NAME, __version__
from billing_service.bootstrap import bootstrap
from billing_service.config import Settings
from billing_service.entrypoints.grpc_billing import add_billing_servicer
from billing_service.entrypoints.keeper import BillingKeeper
from billing_service.entrypoints.retention_keeper import usage_retention
from cpshared.grpc.server import Registrar
from cpshared.retention import start_keeper
from cpshared.runtime import run_grpc_service

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    billing = bootstrap(settings.database_url, settings, pool_size=settings.database_pool_size)
    if settings.billing_keeper_enabled:
        BillingKeeper(billing, settings).start()
    start_keeper(billing.engine, [usage_retention(billing, settings)], settings.retention_interval_seconds)

    def add_servicers(server: aio.Server) -> list[str]:
        return add_billing_servicer(server, billing)

    return add_servicers


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
