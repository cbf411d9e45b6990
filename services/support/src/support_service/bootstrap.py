"""Wires the support service together, for every entrypoint: engine, sessions, a fresh unit of
work per call, the object store of attachments, the rules from the settings, and the services it
asks (identity: who a user is; compute: whose a resource is)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from cpshared.db import make_engine, make_session_factory
from support_service.adapters.compute_resources import ComputeResourceOwners, Unconfigured
from support_service.adapters.object_store import LocalObjectStore
from support_service.adapters.recipients import IdentityRecipients
from support_service.adapters.unit_of_work import SqlAlchemySupportUnitOfWork
from support_service.config import Settings, default_rules
from support_service.service_layer.ports import Accounts, ObjectStore, ResourceOwners
from support_service.service_layer.tickets import Rules


class Support:
    """What the entrypoints need."""

    def __init__(
        self,
        engine: Engine,
        store: ObjectStore,
        rules: Rules | None = None,
        *,
        accounts: Accounts | None = None,
        owners: ResourceOwners | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.rules = rules or default_rules()
        self.accounts: Accounts = accounts or Unconfigured("set CP_IDENTITY_GRPC_ADDR")
        self.owners: ResourceOwners = owners or Unconfigured("set CP_COMPUTE_GRPC_ADDR")
        self._sessions = make_session_factory(engine)

    def uow(self) -> SqlAlchemySupportUnitOfWork:
        return SqlAlchemySupportUnitOfWork(self._sessions)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings, *, engine: Engine | None = None) -> Support:
    key = settings.principal_service_key_file
    return Support(
        engine or make_engine(settings.database_url, pool_size=settings.database_pool_size),
        LocalObjectStore(Path(settings.attachments_dir)),
        settings.rules(),
        accounts=IdentityRecipients(settings.identity_grpc_addr, key) if settings.identity_grpc_addr else None,
        owners=ComputeResourceOwners(settings.compute_grpc_addr, key) if settings.compute_grpc_addr else None,
    )
