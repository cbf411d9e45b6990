"""Start-up of a service process, the same for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine

from cpshared.auth.principal import TrustedKeys, load_public_key
from cpshared.db import make_engine, wait_for_database
from cpshared.grpc.server import Registrar, ServiceIdentity, serve
from cpshared.logging import get_logger
from cpshared.migrations import current_revision, head_revision
from cpshared.process import start_process
from cpshared.settings import DatabaseSettings, ServiceSettings, load_settings

S = TypeVar("S", bound=ServiceSettings)


class SchemaNotMigrated(SystemExit):
    pass


def open_migrated_database(service: str, settings: DatabaseSettings, migrations_dir: Path) -> Engine:
    """Wait for the service's database and refuse to run on a schema that is not at head."""
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    wait_for_database(engine)
    head, current = head_revision(migrations_dir), current_revision(service, engine)
    if current != head:
        get_logger(service).error("schema_not_migrated", current=current, head=head)
        engine.dispose()
        raise SchemaNotMigrated(
            f"{service}: database is at revision {current}, the code expects {head}; migrate it first "
            f"(`cloudctl migrate {service}`, or `python -m cpshared.migrations upgrade {service}`)"
        )
    return engine


class KeyNotLoadable(SystemExit):
    pass


def trusted_keys(settings: ServiceSettings) -> TrustedKeys | None:
    """The keys calls are verified against, or None (unauthenticated mode) when none is set."""
    if not settings.principal_verify_key_file:
        return None
    try:
        issuer = load_public_key(Path(settings.principal_verify_key_file))
    except (OSError, ValueError) as exc:
        raise KeyNotLoadable(f"CP_PRINCIPAL_VERIFY_KEY_FILE: cannot load an Ed25519 public key: {exc}") from exc
    return TrustedKeys(issuer=issuer, services=service_keys(settings.principal_service_keys))


def service_keys(spec: str) -> dict[str, Ed25519PublicKey]:
    """``name=path[,name=path…]`` (CP_PRINCIPAL_SERVICE_KEYS) → each service's public key."""
    keys: dict[str, Ed25519PublicKey] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, path = (text.strip() for text in item.partition("="))
        if not sep or not name or not path:
            raise KeyNotLoadable(f"CP_PRINCIPAL_SERVICE_KEYS: expected name=path, got {item!r}")
        try:
            keys[name] = load_public_key(Path(path))
        except (OSError, ValueError) as exc:
            raise KeyNotLoadable(f"CP_PRINCIPAL_SERVICE_KEYS: cannot load {name}'s Ed25519 public key: {exc}") from exc
    return keys


def run_grpc_service(
    *,
    service: str,
    version: str,
    migrations_dir: Path,
    settings_cls: type[S],
    register: Callable[[S], Registrar],
) -> None:
    settings = load_settings(settings_cls)
    trusted = trusted_keys(settings)
    start_process(service, settings)
    engine = open_migrated_database(service, settings, migrations_dir)
    identity = ServiceIdentity(
        service=service,
        version=version,
        schema_revision=lambda: current_revision(service, engine),
        schema_head=head_revision(migrations_dir),
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    try:
        asyncio.run(serve(identity, address, register(settings), grace=settings.grpc_grace_seconds, trusted=trusted))
    finally:
        engine.dispose()
