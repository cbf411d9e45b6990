"""The compute unit of work: one transaction, its repositories, and the outbox.

The outbox gets what the aggregates recorded themselves (a server's ``events``, collected on
commit from the servers the repository wrote, in that order) and what a use case records with
:meth:`record` (images, SSH keys, placement groups, the catalog)."""

from __future__ import annotations

from typing import Self

from compute_service import SERVICE_NAME
from compute_service.adapters.image_repository import ImageRepository
from compute_service.adapters.load_balancer_type_repository import LoadBalancerTypeRepository
from compute_service.adapters.placement_group_repository import PlacementGroupRepository
from compute_service.adapters.repository import CatalogRepository, SshKeyRepository
from compute_service.adapters.server_repository import ActionRepository, ServerRepository
from compute_service.domain.servers import Server
from cpshared.db import SqlAlchemyUnitOfWork
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import PendingEvent, new_event


def server_events(server: Server) -> list[PendingEvent]:
    """The events ``server`` recorded (and forgets now), as the contract's outbox events."""
    pending = []
    for recorded in server.pop_events():
        spec = REGISTRY.spec(recorded.event_type)
        pending.append(
            new_event(
                spec,
                producer=SERVICE_NAME,
                aggregate_id=recorded.aggregate_id,
                aggregate_version=recorded.version,
                payload=spec.message(**recorded.fields),
            )
        )
    return pending


class ComputeUnitOfWork(SqlAlchemyUnitOfWork):
    catalog: CatalogRepository
    ssh_keys: SshKeyRepository
    servers: ServerRepository
    actions: ActionRepository
    images: ImageRepository
    placement_groups: PlacementGroupRepository
    load_balancer_types: LoadBalancerTypeRepository

    def __enter__(self) -> Self:
        super().__enter__()
        self.catalog = CatalogRepository(self.session)
        self.ssh_keys = SshKeyRepository(self.session)
        self.servers = ServerRepository(self.session)
        self.actions = ActionRepository(self.session)
        self.images = ImageRepository(self.session)
        self.placement_groups = PlacementGroupRepository(self.session)
        self.load_balancer_types = LoadBalancerTypeRepository(self.session)
        return self

    def commit(self) -> None:
        for server in self.servers.seen:
            for event in server_events(server):
                self.record(event)
        super().commit()
