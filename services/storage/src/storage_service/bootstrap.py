"""Wires the storage service together, for every entrypoint: engine, sessions, a fresh unit of
work per call, compute's servers, identity's quotas, and the worker's provisioner on the
upstream cloud (hcloud) and meter on billing's plans."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from cpshared.db import make_engine, make_session_factory
from cpshared.errors import Unavailable
from cpshared.upstream import RetryPolicy
from storage_service.adapters.billing import BillingPlans
from storage_service.adapters.compute import ComputeServers
from storage_service.adapters.quotas import IdentityQuotas
from storage_service.adapters.unit_of_work import SqlAlchemyStorageUnitOfWork
from storage_service.adapters.upstream import HcloudVolumes, read_token
from storage_service.service_layer import backups
from storage_service.service_layer.metering import Meter
from storage_service.service_layer.ports import PricePlans, Quotas, Servers, UpstreamBackups, UpstreamStorage
from storage_service.service_layer.provisioning import Provisioner


class Storage:
    """What the entrypoints need; a missing neighbour answers UNAVAILABLE when first needed."""

    def __init__(
        self,
        engine: Engine,
        *,
        quotas: Quotas | None = None,
        servers: Servers | None = None,
        upstream: Callable[[], UpstreamStorage] | None = None,
        plans: PricePlans | None = None,
    ) -> None:
        self.engine = engine
        self._plans = plans
        self._quotas = quotas
        self._servers = servers
        self._upstream = upstream
        self._backups_upstream: UpstreamBackups | None = None
        self._sessions = make_session_factory(engine)

    def uow(self) -> SqlAlchemyStorageUnitOfWork:
        return SqlAlchemyStorageUnitOfWork(self._sessions)

    @property
    def quotas(self) -> Quotas:
        if self._quotas is None:
            raise Unavailable("storage cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._quotas

    @property
    def servers(self) -> Servers:
        if self._servers is None:
            raise Unavailable("storage cannot reach compute's servers: set CP_COMPUTE_GRPC_ADDR")
        return self._servers

    def provisioner(self) -> Provisioner:
        if self._upstream is None:
            raise Unavailable("storage has no upstream: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        return Provisioner(self.uow, self._upstream(), self.quotas)

    def mirror_backups(self) -> backups.Mirrored:
        """One pass of the worker's backup mirror (service_layer/backups.py) on the upstream cloud."""
        if self._upstream is None:
            raise Unavailable("storage has no upstream: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        if self._backups_upstream is None:
            self._backups_upstream = self._upstream()
        return backups.mirror(self.uow, self._backups_upstream)

    def meter(self) -> Meter:
        """The worker's metering, priced from billing's plans."""
        if self._plans is None:
            raise Unavailable("storage cannot reach billing's pricing plans: set CP_BILLING_GRPC_ADDR")
        return Meter(self.uow, self._plans)

    def close(self) -> None:
        for neighbour in (self._quotas, self._servers, self._plans):
            if isinstance(neighbour, IdentityQuotas | ComputeServers | BillingPlans):
                neighbour.close()
        self.engine.dispose()


def bootstrap(
    database_url: str,
    *,
    pool_size: int = 5,
    hcloud_endpoint: str = "",
    hcloud_token_file: str = "",
    identity_grpc_addr: str = "",
    compute_grpc_addr: str = "",
    billing_grpc_addr: str = "",
    service_key_file: str = "",
    worker_retry: RetryPolicy | None = None,
    engine: Engine | None = None,
) -> Storage:
    """``worker_retry``: the worker's retry of upstream calls; ``engine``: one opened already."""
    return Storage(
        engine or make_engine(database_url, pool_size=pool_size),
        quotas=IdentityQuotas(identity_grpc_addr, service_key_file) if identity_grpc_addr else None,
        servers=ComputeServers(compute_grpc_addr, service_key_file) if compute_grpc_addr else None,
        plans=BillingPlans(billing_grpc_addr, service_key_file) if billing_grpc_addr else None,
        upstream=(
            lambda: HcloudVolumes(hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy())
        )
        if hcloud_endpoint
        else None,
    )
