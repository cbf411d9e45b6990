"""The support service's gRPC server process."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service
from support_service import SERVICE_NAME, __version__
from support_service.config import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    def add_servicers(server: aio.Server) -> list[str]:
        # The support domain's own gRPC API arrives with its issue; until then the
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
