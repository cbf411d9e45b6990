"""The compute unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

from typing import Self

from compute_service.adapters.image_repository import ImageRepository
from compute_service.adapters.load_balancer_type_repository import LoadBalancerTypeRepository
from compute_service.adapters.placement_group_repository import PlacementGroupRepository
from compute_service.adapters.repository import CatalogRepository, SshKeyRepository
from compute_service.adapters.server_repository import ActionRepository, ServerRepository
from cpshared.db import SqlAlchemyUnitOfWork


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
