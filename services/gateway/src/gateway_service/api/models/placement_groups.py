"""A placement group's Hetzner shape; the placement group routes and a server's answer embed it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from cloudplatform.compute.v1 import placement_group_service_pb2 as pb


class PlacementGroupOut(BaseModel):
    id: int
    name: str
    labels: dict[str, str]
    type: PlacementGroupType
    created: datetime
    servers: list[int] = Field(description="IDs of the servers in it.")


def placement_group_out(group: pb.PlacementGroup) -> PlacementGroupOut:
    return PlacementGroupOut(
        id=group.id,
        name=group.name,
        labels=dict(group.labels),
        type="spread",
        created=group.created_at.ToDatetime(tzinfo=UTC),
        servers=list(group.server_ids),
    )


PlacementGroupType = Literal["spread"]
