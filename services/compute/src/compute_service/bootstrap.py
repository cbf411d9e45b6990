"""Wires the compute service together: engine, sessions, a fresh unit of work per call, and
the upstream catalog (hcloud) it syncs from."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from compute_service.adapters.upstream import CatalogSource, HcloudCatalog
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.db import make_engine, make_session_factory


class Compute:
    """What the entrypoints need. ``catalog_source`` makes the upstream client when a sync
    needs it (reading the token then, so a missing token fails the sync, not the start)."""

    def __init__(self, engine: Engine, catalog_source: Callable[[], CatalogSource]) -> None:
        self.engine = engine
        self.catalog_source = catalog_source
        self._sessions = make_session_factory(engine)

    def uow(self) -> ComputeUnitOfWork:
        return ComputeUnitOfWork(self._sessions)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(database_url: str, *, pool_size: int = 5, hcloud_endpoint: str, hcloud_token_file: str) -> Compute:
    return Compute(
        make_engine(database_url, pool_size=pool_size),
        lambda: HcloudCatalog.from_settings(hcloud_endpoint, hcloud_token_file),
    )
