"""``/v1/images/…/actions``: image actions, wire-compatible with Hetzner Cloud's, kept by compute.

- ``POST /v1/images/{id}/actions/change_protection`` (``{"delete": bool}``): protect one of the
  tenant's snapshots (or backups) against deletion, or lift it. The protection is the
  platform's own (as a server's is), so the ``change_protection`` action is answered finished;
  ``DELETE /v1/images/{id}`` then answers ``423 protected`` and changes nothing. A system
  image cannot be protected (``400 unsupported_error``, Hetzner: "only on snapshots").
- ``GET /v1/images/{id}/actions`` (``status``, ``sort``, paging; a system image has none) and
  ``GET /v1/images/{id}/actions/{action_id}``: the actions about one image — its
  ``change_protection`` actions and the ``create_image`` action that made it (whose resources
  are its server and the image).
- ``GET /v1/images/actions`` (``id``, ``status``, ``sort``, paging) and
  ``GET /v1/images/actions/{id}``: the actions about the tenant's images.

Another tenant's image or action is ``404``, to staff too (as for ``PUT``/``DELETE
/v1/images/{id}``). Scopes ``images:read`` and ``images:write``; an
image action is also ``GET /v1/actions/{id}`` (how clients wait for it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import server_service_pb2 as pb
from cpshared.errors import InvalidInput, NotFound
from gateway_service.api.common import MAX_ID, one_page, page_meta, sort_items, sort_param, tenant
from gateway_service.api.servers.mapping import ACTION_SORT, action_out, action_sort_value
from gateway_service.api.servers.models import ActionAnswer, ActionOut, ActionsAnswer
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/images", tags=["images"])

ImageId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the image.")]
ActionId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the action.")]
Status = Annotated[list[Literal["running", "success", "error"]] | None, Query()]
SortParam = Annotated[list[str] | None, Query(description="id, command, status, started, finished.")]


class Unsupported(InvalidInput):
    """Hetzner's ``unsupported_error``: the resource does not support the action."""

    code = "unsupported_error"


class ChangeImageProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="If true, prevents the snapshot from being deleted.")


async def _is_system_image(request: Request, image_id: int) -> bool:
    return any(image.id == image_id for image in await backends(request).compute.images())


async def _ensure_own_image(request: Request, principal: Principal, image_id: int) -> None:
    """NOT_FOUND unless ``image_id`` is one of the caller's tenant's images: as for
    ``PUT``/``DELETE /v1/images/{id}``, another tenant's image is no one else's, not even staff's."""
    own = await backends(request).servers.own_images(principal.user_id, principal.organization_id or 0)
    if not any(image.id == image_id for image in own):
        raise NotFound(f"image {image_id} does not exist")


async def _own_image_action(request: Request, principal: Principal, action_id: int, image_id: int = 0) -> pb.Action:
    """The action ``action_id`` when it is about one of the caller's tenant's images (``image_id``:
    that one); NOT_FOUND otherwise. Read from the tenant's image actions, so an image's actions
    stay readable after it was deleted, as Hetzner's do."""
    answer = await backends(request).servers.tenant_actions(
        *tenant(principal), status=[], sort=[], page=1, per_page=1, resource_type="image", ids=[action_id]
    )
    found = [a for a in answer.actions if not image_id or a.image_id == image_id]
    if not found:
        suffix = f" for image {image_id}" if image_id else ""
        raise NotFound(f"action {action_id} does not exist{suffix}")
    return found[0]


@router.get("/actions")
@scope(Family.IMAGES, Access.READ)
async def list_image_actions(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None, Query(max_length=50)] = None,
    status: Status = None,
    sort: SortParam = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions about the caller's tenant's images."""
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    answer = await backends(request).servers.tenant_actions(
        *tenant(principal),
        status=list(status or []),
        sort=sort_param(keys),
        page=page_request.page,
        per_page=page_request.per_page,
        resource_type="image",
        ids=sorted(set(id or [])),
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return ActionsAnswer(actions=[action_out(a) for a in answer.actions], meta=meta)


@router.get("/actions/{id:int}")
@scope(Family.IMAGES, Access.READ)
async def get_image_action(request: Request, principal: Authenticated, id: ActionId) -> ActionAnswer:
    """One action about one of the caller's tenant's images."""
    return ActionAnswer(action=action_out(await _own_image_action(request, principal, id)))


@router.post("/{id:int}/actions/change_protection", status_code=201)
@scope(Family.IMAGES, Access.WRITE)
async def change_image_protection(
    request: Request,
    principal: Authenticated,
    id: ImageId,
    body: Annotated[ChangeImageProtectionBody | None, Body()] = None,
) -> ActionAnswer:
    """Protect one of the tenant's snapshots against deletion, or lift the protection."""
    if await _is_system_image(request, id):
        raise Unsupported(f"image {id} is a system image: only snapshots and backups can be protected")
    await _ensure_own_image(request, principal, id)
    wanted = body or ChangeImageProtectionBody()
    action = await backends(request).servers.change_image_protection(id, tenant(principal)[1], delete=wanted.delete)
    return ActionAnswer(action=action_out(action))


@router.get("/{id:int}/actions")
@scope(Family.IMAGES, Access.READ)
async def list_actions_for_image(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ImageId,
    status: Status = None,
    sort: SortParam = None,
    page: str | None = None,
    per_page: str | None = None,
) -> ActionsAnswer:
    """The actions about one image, newest first unless sorted otherwise (a system image has none)."""
    page_request = parse_page_request(page, per_page)
    keys = parse_sort(sort or [], ACTION_SORT)
    found: list[ActionOut] = []
    if not await _is_system_image(request, id):
        await _ensure_own_image(request, principal, id)
        found = [action_out(a) for a in await backends(request).servers.image_actions(id, tenant(principal)[1])]
    found = [a for a in found if not status or a.status in status]
    sort_items(found, keys, action_sort_value)
    chosen, meta = one_page(request, response, found, page_request)
    return ActionsAnswer(actions=chosen, meta=meta)


@router.get("/{id:int}/actions/{action_id:int}")
@scope(Family.IMAGES, Access.READ)
async def get_action_for_image(
    request: Request, principal: Authenticated, id: ImageId, action_id: ActionId
) -> ActionAnswer:
    """One action about one image."""
    return ActionAnswer(action=action_out(await _own_image_action(request, principal, action_id, id)))
