"""``/v1/placement_groups``: placement groups, wire-compatible with Hetzner Cloud's, kept by the
compute service.

- ``GET /v1/placement_groups``: the caller's groups (with a key bound to an organization, that
  organization's too), filtered by ``name``, ``label_selector`` and ``type``, sorted by ``id``,
  ``name`` or ``created``, paged with ``meta.pagination`` and a ``Link`` header.
- ``POST /v1/placement_groups`` (``name``, ``type`` ``spread``, ``labels``): a new group in the
  caller's tenant, answered with ``action: null`` as Hetzner answers it; a name the tenant has
  is ``409 uniqueness_error``.
- ``GET``/``PUT`` (``name``, ``labels``)/``DELETE /v1/placement_groups/{id}``: one group the
  caller reaches; another tenant's is ``404 not_found``; deleting one that still has servers
  is ``422 resource_in_use``.

A server joins one at creation (``placement_group`` in ``POST /v1/servers``) or with
``POST /v1/servers/{id}/actions/add_to_placement_group`` and leaves with
``remove_from_placement_group`` (api/servers/routes.py). A spread group holds at most 10 servers
(``403 resource_limit_exceeded``). Scopes ``placement_groups:read`` and ``placement_groups:write``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from gateway_service.api.common import MAX_ID, Labels, Meta, Text, page_meta, sort_param, tenant
from gateway_service.api.models.placement_groups import PlacementGroupOut, PlacementGroupType, placement_group_out
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/placement_groups", tags=["placement_groups"])

SORTABLE = ("id", "name", "created")
PlacementGroupId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the placement group.")]


class PlacementGroupAnswer(BaseModel):
    placement_group: PlacementGroupOut


class CreatedPlacementGroupAnswer(BaseModel):
    placement_group: PlacementGroupOut
    action: None = Field(default=None, description="Always null: a placement group is made at once.")


class PlacementGroupsAnswer(BaseModel):
    placement_groups: list[PlacementGroupOut]
    meta: Meta


class NewPlacementGroup(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    type: PlacementGroupType = Field(description="spread: its servers run on different physical hosts.")
    labels: Labels = Field(default_factory=dict)


class PlacementGroupChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = Field(default=None, description="Replaces every label of the group.")


@router.get("")
@scope(Family.PLACEMENT_GROUPS, Access.READ)
async def list_placement_groups(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the group with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    type: Annotated[list[PlacementGroupType] | None, Query(description="Only groups of these types.")] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> PlacementGroupsAnswer:
    """The caller's placement groups matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    answer = await backends(request).placement_groups.list(
        *tenant(principal),
        name=name or "",
        types=list(type or []),
        label_selector=[
            cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    groups = [placement_group_out(group) for group in answer.placement_groups]
    return PlacementGroupsAnswer(placement_groups=groups, meta=meta)


@router.post("", status_code=201)
@scope(Family.PLACEMENT_GROUPS, Access.WRITE)
async def create_placement_group(
    request: Request, principal: Authenticated, body: NewPlacementGroup
) -> CreatedPlacementGroupAnswer:
    """A new placement group in the caller's tenant."""
    group = await backends(request).placement_groups.create(
        *tenant(principal), name=body.name, type=body.type, labels=body.labels
    )
    return CreatedPlacementGroupAnswer(placement_group=placement_group_out(group))


@router.get("/{id}")
@scope(Family.PLACEMENT_GROUPS, Access.READ)
async def get_placement_group(request: Request, principal: Authenticated, id: PlacementGroupId) -> PlacementGroupAnswer:
    """One placement group the caller reaches."""
    group = await backends(request).placement_groups.get(id, tenant(principal)[1])
    return PlacementGroupAnswer(placement_group=placement_group_out(group))


@router.put("/{id}")
@scope(Family.PLACEMENT_GROUPS, Access.WRITE)
async def update_placement_group(
    request: Request, principal: Authenticated, id: PlacementGroupId, body: PlacementGroupChange
) -> PlacementGroupAnswer:
    """Rename a placement group or replace its labels."""
    group = await backends(request).placement_groups.update(
        id, tenant(principal)[1], name=body.name, labels=body.labels
    )
    return PlacementGroupAnswer(placement_group=placement_group_out(group))


@router.delete("/{id}", status_code=204)
@scope(Family.PLACEMENT_GROUPS, Access.WRITE)
async def delete_placement_group(request: Request, principal: Authenticated, id: PlacementGroupId) -> Response:
    """Delete a placement group that has no servers."""
    await backends(request).placement_groups.delete(id, tenant(principal)[1])
    return Response(status_code=204)
