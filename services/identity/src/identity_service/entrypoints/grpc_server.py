"""The identity service's gRPC server process."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.auth.principal import load_private_key
from cpshared.grpc.server import Registrar
from cpshared.retention import start_keeper
from cpshared.runtime import run_grpc_service
from identity_service import SERVICE_NAME, __version__
from identity_service.bootstrap import Identity, bootstrap
from identity_service.config import Settings
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_accounts import add_account_servicer
from identity_service.entrypoints.grpc_admin import add_admin_servicer
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.entrypoints.grpc_organizations import add_organization_servicer
from identity_service.entrypoints.grpc_two_factor import add_two_factor_servicer
from identity_service.entrypoints.retention_keeper import (
    login_activity_retention,
    sign_in_failures_retention,
    trial_ends,
)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    key_file = settings.principal_signing_key_file
    signing_key = load_private_key(Path(key_file)) if key_file else None
    data_key_file = settings.data_encryption_key_file
    secret_box = SecretBox.from_base64(Path(data_key_file).read_text()) if data_key_file else None
    identity = bootstrap(
        settings.database_url,
        pool_size=settings.database_pool_size,
        signing_key=signing_key,
        mail=settings,
        secret_box=secret_box,
        credential_workers=settings.credential_workers,
        credential_waiting=settings.credential_waiting,
    )
    start_keeper(
        identity.engine,
        [login_activity_retention(identity, settings), sign_in_failures_retention(identity)],
        settings.retention_interval_seconds,
    )
    start_keeper(identity.engine, [trial_ends(identity)], settings.trial_check_interval_seconds)
    return lambda server: add_servicers(server, identity)


def add_servicers(server: aio.Server, identity: Identity) -> list[str]:
    """Every gRPC service identity answers, on ``server``; their full names."""
    names = add_identity_servicer(server, identity)
    names += add_organization_servicer(server, identity)
    names += add_account_servicer(server, identity)
    names += add_admin_servicer(server, identity)
    names += add_two_factor_servicer(server, identity)
    return names


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
