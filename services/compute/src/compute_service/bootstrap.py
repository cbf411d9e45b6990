"""Wires the compute service together, for every entrypoint: engine, sessions, a fresh unit of
work per call, the upstream cloud (hcloud) for the catalog and for servers, identity's quotas,
billing's backup price, and the worker's provisioner and meter built on them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from compute_service.adapters.billing_prices import BillingBackupPricing
from compute_service.adapters.quotas import IdentityQuotas
from compute_service.adapters.unit_of_work import SqlAlchemyComputeUnitOfWork
from compute_service.adapters.upstream import HcloudCatalog, read_token
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.service_layer.isos import IsoCatalog
from compute_service.service_layer.metering import Meter
from compute_service.service_layer.ports import BackupPricing, CatalogSource, Quotas, UpstreamServers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.db import make_engine, make_session_factory
from cpshared.errors import Unavailable


class Compute:
    """What the entrypoints need. ``catalog_source`` makes the upstream client when a sync
    needs it (reading the token then, so a missing token fails the sync, not the start).
    ``upstream`` answers the calls made while a caller waits (a short retry); ``worker_upstream``
    the worker's (a patient one; ``upstream`` when not given)."""

    def __init__(
        self,
        engine: Engine,
        catalog_source: Callable[[], CatalogSource],
        *,
        quotas: Quotas | None = None,
        backup_pricing: BackupPricing | None = None,
        upstream: Callable[[], UpstreamServers] | None = None,
        worker_upstream: Callable[[], UpstreamServers] | None = None,
    ) -> None:
        self.engine = engine
        self.catalog_source = catalog_source
        self._quotas = quotas
        self._backup_pricing = backup_pricing
        self._upstream = upstream
        self._worker_upstream = worker_upstream or upstream
        self._sessions = make_session_factory(engine)
        self.isos = IsoCatalog(catalog_source)

    def uow(self) -> SqlAlchemyComputeUnitOfWork:
        return SqlAlchemyComputeUnitOfWork(self._sessions)

    @property
    def quotas(self) -> Quotas:
        if self._quotas is None:
            raise Unavailable("compute cannot reach identity's quotas: set CP_IDENTITY_GRPC_ADDR")
        return self._quotas

    @property
    def backup_pricing(self) -> BackupPricing:
        if self._backup_pricing is None:
            raise Unavailable("compute cannot ask billing what backups cost: set CP_BILLING_GRPC_ADDR")
        return self._backup_pricing

    def upstream(self) -> UpstreamServers:
        """Upstream servers, for the calls answered at once (enable rescue, delete an image)."""
        if self._upstream is None:
            raise Unavailable("compute has no upstream for servers: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        return self._upstream()

    def provisioner(self) -> Provisioner:
        """The worker's: carries running actions out upstream with the patient retry."""
        if self._worker_upstream is None:
            raise Unavailable("compute has no upstream for servers: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        return Provisioner(self.uow, self._worker_upstream(), self.quotas)

    def meter(self) -> Meter:
        return Meter(self.uow)

    def close(self) -> None:
        if isinstance(self._quotas, IdentityQuotas):
            self._quotas.close()
        if isinstance(self._backup_pricing, BillingBackupPricing):
            self._backup_pricing.close()
        self.engine.dispose()


def bootstrap(
    database_url: str,
    *,
    pool_size: int = 5,
    hcloud_endpoint: str,
    hcloud_token_file: str,
    identity_grpc_addr: str = "",
    billing_grpc_addr: str = "",
    service_key_file: str = "",
    worker_retry: RetryPolicy | None = None,
    engine: Engine | None = None,
) -> Compute:
    """``worker_retry``: the worker's retry of upstream calls; ``engine``: one opened already
    (the worker's, checked to be migrated), else one on ``database_url``."""
    quotas = IdentityQuotas(identity_grpc_addr, service_key_file) if identity_grpc_addr else None
    return Compute(
        engine or make_engine(database_url, pool_size=pool_size),
        lambda: HcloudCatalog.from_settings(hcloud_endpoint, hcloud_token_file),
        quotas=quotas,
        backup_pricing=BillingBackupPricing(billing_grpc_addr, service_key_file) if billing_grpc_addr else None,
        # Answered at once to a caller: a short retry, not the worker's patient one.
        upstream=lambda: HcloudServers(
            hcloud_endpoint, read_token(hcloud_token_file), retry=RetryPolicy(attempts=3, initial_seconds=0.2)
        ),
        worker_upstream=lambda: HcloudServers(
            hcloud_endpoint, read_token(hcloud_token_file), retry=worker_retry or RetryPolicy()
        ),
    )
