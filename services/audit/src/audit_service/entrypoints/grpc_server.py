"""The audit service's gRPC server process."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from audit_service import SERVICE_NAME, __version__
from audit_service.bootstrap import Audit, bootstrap
from audit_service.config import Settings
from audit_service.entrypoints.grpc_audit_log import add_audit_log_servicer
from audit_service.entrypoints.keeper import Keeper
from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    audit = bootstrap(settings.database_url, pool_size=settings.database_pool_size)
    # Signs the chains' heads at intervals and prunes by retention (one replica at a time).
    Keeper(audit, settings).start()
    return lambda server: add_servicers(server, audit)


def add_servicers(server: aio.Server, audit: Audit) -> list[str]:
    """Every gRPC service audit answers, on ``server``; their full names."""
    return add_audit_log_servicer(server, audit)


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
