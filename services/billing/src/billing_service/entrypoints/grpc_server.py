"""The billing service's gRPC server process."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from billing_service import SERVICE_NAME, __version__
from billing_service.config import Settings
from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    def add_servicers(server: aio.Server) -> list[str]:
        # The billing domain's own gRPC API arrives with its issue; until then the
        # process serves health, reflection and ServiceInfo only.
        return []

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
