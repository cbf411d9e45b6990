"""The storage service's gRPC server process: VolumeService, BackupService (and health,
reflection, ServiceInfo)."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service
from storage_service import SERVICE_NAME, __version__
from storage_service.bootstrap import Storage, bootstrap
from storage_service.config import Settings
from storage_service.entrypoints.backup_servicer import add_backup_servicer
from storage_service.entrypoints.volume_servicer import add_volume_servicer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    storage = bootstrap(
        settings.database_url,
        pool_size=settings.database_pool_size,
        identity_grpc_addr=settings.identity_grpc_addr,
        compute_grpc_addr=settings.compute_grpc_addr,
        service_key_file=settings.principal_service_key_file,
    )
    return lambda server: add_servicers(server, storage)


def add_servicers(server: aio.Server, storage: Storage) -> list[str]:
    """Every gRPC service storage answers, on ``server``; their full names."""
    return [*add_volume_servicer(server, storage), *add_backup_servicer(server, storage)]


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
