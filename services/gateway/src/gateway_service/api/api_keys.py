"""``/v1/api_keys``: the caller's API keys, in the Hetzner Cloud API's style.

- ``GET /v1/api_keys``: the caller's live (not revoked) keys; ``page``/``per_page`` with
  ``meta.pagination`` and a ``Link`` header; ``sort`` by ``id``, ``name`` or ``created``.
  Identity's ListApiKeys answers a user's whole list (a user has few keys), so paging and
  sorting happen here. Keys have no labels, so ``label_selector`` is refused as invalid input.
- ``GET /v1/api_keys/{id}``: one of the caller's keys; anyone else's is ``404 not_found``.
- ``POST /v1/api_keys``: a new key for the caller, in the caller's organization; the answer
  holds the ``secret``, the only time it is ever shown (an Idempotency-Key replay answers
  it as ``null``, see idempotency.middleware). Omitting ``rate_limit`` inherits the
  creating key's.
- ``PUT /v1/api_keys/{id}``: rename, change the scopes or the rate limit of one of the
  caller's keys; never beyond the caller's own rights (the same rule as creating one).
- ``POST /v1/api_keys/{id}/actions/rotate``: a successor key (same name, scopes, rate limit,
  organization, expiry) whose secret the answer shows once; the old secret keeps working for
  ``grace_period_seconds`` (0 to seven days, default one hour), then stops (0: at once).
- ``DELETE /v1/api_keys/{id}``: revoke; the key stops working within the principal cache's
  TTL (one second). A revoked key is gone from the API: GET and DELETE answer 404.

Admins reach other users' keys by id for DELETE; GET by id and the list cover the caller's
own keys only, because identity has no "get key by id" call yet.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import NotFound
from gateway_service.api.common import Id, Int32, Text, one_page, sort_items
from gateway_service.auth import policy
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.idempotency.middleware import REDACT_HEADER
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/api_keys", tags=["api_keys"])

SORTABLE = ("id", "name", "created")


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    scopes: list[str] = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None
    rate_limit: Int32 | None = Field(default=None)


class ApiKeyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    scopes: list[str] | None = Field(default=None, min_length=1, max_length=100)
    rate_limit: Int32 | None = Field(default=None, ge=1)


DEFAULT_ROTATION_GRACE = 3600
MAX_ROTATION_GRACE = 7 * 24 * 3600


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period_seconds: StrictInt = Field(
        default=DEFAULT_ROTATION_GRACE,
        ge=0,
        le=MAX_ROTATION_GRACE,
        description="How long the old secret keeps working: 0 (stops at once) to 604800 (seven days).",
    )


def _iso(stamp: Timestamp, present: bool) -> str | None:
    return stamp.ToDatetime(tzinfo=UTC).isoformat() if present else None


def api_key_json(key: pb.ApiKey) -> dict[str, Any]:
    """The public form of a key: never its secret or hash, only the last four characters."""
    return {
        "id": key.id,
        "name": key.name,
        "user_id": key.user_id,
        "organization_id": key.organization_id or None,
        "last_four": key.last_four,
        "scopes": list(key.scopes),
        "rate_limit": key.rate_limit,
        "expires_at": _iso(key.expires_at, key.HasField("expires_at")),
        "last_used_at": _iso(key.last_used_at, key.HasField("last_used_at")),
        "last_used_ip": key.last_used_ip or None,
        "created": _iso(key.created_at, key.HasField("created_at")),
    }


def _sort_value(key: pb.ApiKey, field: str) -> Any:
    return key.created_at.ToNanoseconds() if field == "created" else getattr(key, field)


async def _live_keys(request: Request, principal: Principal) -> list[pb.ApiKey]:
    keys = await backends(request).identity.list_api_keys(principal.user_id)
    return [key for key in keys if not key.HasField("revoked_at")]


async def _own_key(request: Request, principal: Principal, api_key_id: int) -> pb.ApiKey:
    for key in await _live_keys(request, principal):
        if key.id == api_key_id:
            return key
    raise NotFound(f"API key {api_key_id} does not exist")


@router.get("")
@scope(Family.API_KEYS, Access.READ)
async def list_api_keys(
    request: Request,
    response: Response,
    principal: Authenticated,
    page: str | None = None,
    per_page: str | None = None,
    sort: Annotated[list[str] | None, Query()] = None,
    label_selector: str | None = None,
) -> dict[str, Any]:
    """The caller's API keys, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    if label_selector:
        raise invalid_field("label_selector", "API keys have no labels; leave label_selector out")
    keys = sorted(await _live_keys(request, principal), key=lambda k: k.id)
    chosen, meta = one_page(request, response, sort_items(keys, sort_keys, _sort_value), page_request)
    return {"api_keys": [api_key_json(key) for key in chosen], "meta": meta.model_dump()}


@router.get("/{api_key_id}")
@scope(Family.API_KEYS, Access.READ)
async def get_api_key(request: Request, principal: Authenticated, api_key_id: Id) -> dict[str, Any]:
    """One of the caller's API keys."""
    return {"api_key": api_key_json(await _own_key(request, principal, api_key_id))}


@router.post("", status_code=201)
@scope(Family.API_KEYS, Access.WRITE)
async def create_api_key(
    request: Request, response: Response, principal: Authenticated, body: NewApiKey
) -> dict[str, Any]:
    """A new API key for the caller; the answer shows its secret, once."""
    response.headers[REDACT_HEADER] = "secret"
    rate_limit = body.rate_limit if body.rate_limit is not None else principal.rate_limit
    policy.check_grantable(principal, body.scopes, rate_limit)
    key, secret = await backends(request).identity.create_api_key(
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        name=body.name,
        scopes=body.scopes,
        rate_limit=rate_limit,
        expires_at=body.expires_at.astimezone(UTC) if body.expires_at else None,
    )
    return {"api_key": api_key_json(key), "secret": secret}


@router.put("/{api_key_id}")
@scope(Family.API_KEYS, Access.WRITE)
async def update_api_key(
    request: Request, principal: Authenticated, api_key_id: Id, body: ApiKeyChange
) -> dict[str, Any]:
    """Rename one of the caller's keys, or change its scopes or rate limit."""
    key = await _own_key(request, principal, api_key_id)
    if body.scopes is not None or body.rate_limit is not None:
        policy.check_grantable(
            principal,
            body.scopes if body.scopes is not None else list(key.scopes),
            body.rate_limit if body.rate_limit is not None else key.rate_limit,
        )
    changed = await backends(request).identity.update_api_key(
        api_key_id, name=body.name, scopes=body.scopes, rate_limit=body.rate_limit
    )
    return {"api_key": api_key_json(changed)}


@router.post("/{api_key_id}/actions/rotate", status_code=201)
@scope(Family.API_KEYS, Access.WRITE)
async def rotate_api_key(
    request: Request, response: Response, principal: Authenticated, api_key_id: Id, body: Rotation | None = None
) -> dict[str, Any]:
    """A successor of one of the caller's keys; the answer shows its secret, once. The old
    secret works for the grace period more."""
    response.headers[REDACT_HEADER] = "secret"
    await _own_key(request, principal, api_key_id)
    grace = (body or Rotation()).grace_period_seconds
    key, secret, previous = await backends(request).identity.rotate_api_key(api_key_id, grace)
    return {"api_key": api_key_json(key), "secret": secret, "previous": api_key_json(previous)}


@router.delete("/{api_key_id}", status_code=204)
@scope(Family.API_KEYS, Access.WRITE)
async def revoke_api_key(request: Request, principal: Authenticated, api_key_id: Id) -> Response:
    """Revoke an API key: it stops working within a second."""
    if not policy.reaches_every_owner(principal, Family.API_KEYS, Access.WRITE):
        # Checked before revoking: another user's key must stay untouched and look absent.
        await _own_key(request, principal, api_key_id)
    await backends(request).identity.revoke_api_key(api_key_id)
    return Response(status_code=204)
