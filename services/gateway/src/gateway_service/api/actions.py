"""``/v1/actions``: the actions of the caller's resources, wire-compatible with Hetzner Cloud's.

- ``GET /v1/actions/{id}``: one action the caller reaches (another tenant's: ``404``).
- ``GET /v1/actions?id=…``: the actions with those IDs the caller reaches (Hetzner requires
  ``id``; IDs the caller does not reach are left out, as if they did not exist).

Compute keeps the actions of servers and images, network those of floating IPs, storage those
of volumes; each numbers its own from the first id of its range (``cpshared.action_ids``), so
an id says whom to ask, and each service's worker carries them out upstream. Scope ``servers:read``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from cpshared.action_ids import owner_of
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID, one_page, tenant
from gateway_service.api.models.actions import volume_action_out
from gateway_service.api.servers.mapping import action_out
from gateway_service.api.servers.models import ActionAnswer, ActionOut, ActionsAnswer
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/actions", tags=["actions"])

ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
MAX_IDS = 50


@router.get("")
@scope(Family.SERVERS, Access.READ)
async def list_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]], Query(max_length=MAX_IDS)],
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions with the IDs given that the caller reaches."""
    page_request = parse_page_request(page, per_page)
    found: list[ActionOut] = []
    for action_id in sorted(set(id)):
        try:
            found.append(await _action(request, principal, action_id))
        except NotFound:
            continue
    chosen, meta = one_page(request, response, found, page_request)
    return ActionsAnswer(actions=chosen, meta=meta)


@router.get("/{id}")
@scope(Family.SERVERS, Access.READ)
async def get_action(request: Request, principal: Authenticated, id: ActionId) -> ActionAnswer:
    """One action the caller reaches."""
    return ActionAnswer(action=await _action(request, principal, id))


async def _action(request: Request, principal: Authenticated, action_id: int) -> ActionOut:
    """The action the caller reaches, of the service whose id range holds ``action_id``."""
    organization_id = tenant(principal)[1]
    owner = owner_of(action_id)
    if owner == "network":
        return action_out(await backends(request).floating_ips.action(action_id, organization_id))
    if owner == "storage":
        return volume_action_out(await backends(request).storage.action(action_id, organization_id))
    return action_out(await backends(request).servers.action(action_id, organization_id))
