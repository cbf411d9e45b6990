"""``/v1/ssh_keys``: SSH keys, wire-compatible with Hetzner Cloud's, kept by the compute service.

- ``GET /v1/ssh_keys``: the caller's keys (with a key bound to an organization, that
  organization's too), filtered by ``name``, ``fingerprint`` and ``label_selector``, sorted by
  ``id`` or ``name`` (``sort``, repeatable), ``page``/``per_page`` with ``meta.pagination`` and
  a ``Link`` header. Compute filters, sorts and pages in SQL.
- ``GET /v1/ssh_keys/{id}``, ``PUT`` (``name``, ``labels``: the labels given replace them all)
  and ``DELETE``: one key the caller reaches; another tenant's is ``404 not_found``.
- ``POST /v1/ssh_keys`` (``name``, ``public_key``, ``labels``): a new key in the caller's
  tenant, the organization of its API key if it has one. A malformed key is ``invalid_input``;
  a name or fingerprint the tenant already has is ``409 uniqueness_error``.

The tenant is always the principal's: the user and the organization its key is bound to.
Compute checks the same from the signed principal (admins reach every tenant's key by id).
Scopes ``ssh_keys:read`` and ``ssh_keys:write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Labels, Meta, Text, page_meta, sort_param, tenant
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/ssh_keys", tags=["ssh_keys"])

SORTABLE = ("id", "name")
SshKeyId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the SSH key.")]


class SshKeyOut(BaseModel):
    id: int
    name: str
    fingerprint: str = Field(description="MD5 fingerprint of the key, colon-separated hex.")
    public_key: str
    labels: dict[str, str]
    created: datetime


class SshKeyAnswer(BaseModel):
    ssh_key: SshKeyOut


class SshKeysAnswer(BaseModel):
    ssh_keys: list[SshKeyOut]
    meta: Meta


class NewSshKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    public_key: str = Field(min_length=1, max_length=16_384, description="OpenSSH public key line.")
    labels: Labels = Field(default_factory=dict)


class SshKeyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = Field(default=None, description="Replaces every label of the key.")


def ssh_key_out(key: pb.SshKey) -> SshKeyOut:
    return SshKeyOut(
        id=key.id,
        name=key.name,
        fingerprint=key.fingerprint,
        public_key=key.public_key,
        labels=dict(key.labels),
        created=key.created_at.ToDatetime(tzinfo=UTC),
    )


@router.get("")
@scope(Family.SSH_KEYS, Access.READ)
async def list_ssh_keys(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=255, description="Only the key with this name.")] = None,
    fingerprint: Annotated[str | None, Query(max_length=100, description="Only the key with this fingerprint.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id or name, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> SshKeysAnswer:
    """The caller's SSH keys matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    user_id, organization_id = tenant(principal)
    answer = await backends(request).compute.list_ssh_keys(
        user_id,
        organization_id,
        name=name or "",
        fingerprint=fingerprint or "",
        label_selector=[
            pb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
        ],
        sort=sort_param(sort_keys),
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return SshKeysAnswer(ssh_keys=[ssh_key_out(key) for key in answer.ssh_keys], meta=meta)


@router.post("", status_code=201)
@scope(Family.SSH_KEYS, Access.WRITE)
async def create_ssh_key(request: Request, principal: Authenticated, body: NewSshKey) -> SshKeyAnswer:
    """A new SSH key in the caller's tenant."""
    user_id, organization_id = tenant(principal)
    key = await backends(request).compute.create_ssh_key(
        user_id, organization_id, body.name, body.public_key, body.labels
    )
    return SshKeyAnswer(ssh_key=ssh_key_out(key))


@router.get("/{id}")
@scope(Family.SSH_KEYS, Access.READ)
async def get_ssh_key(request: Request, principal: Authenticated, id: SshKeyId) -> SshKeyAnswer:
    """One SSH key the caller reaches."""
    key = await backends(request).compute.get_ssh_key(id, *tenant(principal))
    return SshKeyAnswer(ssh_key=ssh_key_out(key))


@router.put("/{id}")
@scope(Family.SSH_KEYS, Access.WRITE)
async def update_ssh_key(
    request: Request,
    principal: Authenticated,
    id: SshKeyId,
    body: SshKeyChange,
) -> SshKeyAnswer:
    """Rename an SSH key or replace its labels."""
    user_id, organization_id = tenant(principal)
    key = await backends(request).compute.update_ssh_key(id, user_id, organization_id, body.name, body.labels)
    return SshKeyAnswer(ssh_key=ssh_key_out(key))


@router.delete("/{id}", status_code=204)
@scope(Family.SSH_KEYS, Access.WRITE)
async def delete_ssh_key(request: Request, principal: Authenticated, id: SshKeyId) -> Response:
    """Delete an SSH key."""
    await backends(request).compute.delete_ssh_key(id, *tenant(principal))
    return Response(status_code=204)
