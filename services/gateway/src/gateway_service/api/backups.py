"""``/v1/servers/{id}/backups``: a server's backups, in the platform's own style (Hetzner lists
them as images of type ``backup`` bound to the server, and has no such listing), kept by the
storage service (compute owns the server and its backup option).

- ``GET /v1/servers/{id}/backups``: the server's backups, newest first (one a day in the
  server's backup window, seven kept: each shows when it ``expires``), and ``backups_enabled``;
  paged as every list.
- ``DELETE /v1/servers/{id}/backups/{backup_id}``: delete one (storage's worker removes its
  image upstream); one being deleted or another server's is ``404 not_found``.

Another tenant's server is ``404 not_found``. Scopes ``servers:read`` and ``servers:write``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from cloudplatform.storage.v1 import backup_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, one_page, tenant
from gateway_service.api.models.actions import as_datetime
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/servers", tags=["backups"])

ServerId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the server.")]
BackupId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the backup.")]


class BackupOut(BaseModel):
    id: int
    server: int
    type: Literal["automated", "manual"]
    description: str
    image_size: float | None
    """Size of the backup, GB."""
    status: Literal["creating", "available", "restoring", "deleting", "error"]
    created: datetime
    expires: datetime | None


class BackupsAnswer(BaseModel):
    backups: list[BackupOut]
    backups_enabled: bool
    meta: Meta


class BackupAnswer(BaseModel):
    backup: BackupOut


def backup_out(backup: pb.Backup) -> BackupOut:
    return BackupOut(
        id=backup.id,
        server=backup.server_id,
        type="manual" if backup.type == "manual" else "automated",
        description=backup.description,
        image_size=float(Decimal(backup.size_gb)) if backup.size_gb else None,
        status=backup.status,  # type: ignore[arg-type]  # storage answers the seed's statuses
        created=as_datetime(backup.created_at),
        expires=as_datetime(backup.expires_at) if backup.HasField("expires_at") else None,
    )


@router.get("/{id:int}/backups", response_model=BackupsAnswer)
@scope(Family.SERVERS, Access.READ)
async def list_backups(
    request: Request,
    response: Response,
    principal: Authenticated,
    id: ServerId,
    page: str | None = Query(default=None),
    per_page: str | None = Query(default=None),
) -> BackupsAnswer:
    """The server's backups, newest first."""
    page_request = parse_page_request(page, per_page)
    answer = await backends(request).storage.server_backups(id, tenant(principal)[1])
    items, meta = one_page(request, response, [backup_out(b) for b in answer.backups], page_request)
    return BackupsAnswer(backups=items, backups_enabled=answer.backups_enabled, meta=meta)


@router.delete("/{id:int}/backups/{backup_id:int}", response_model=BackupAnswer)
@scope(Family.SERVERS, Access.WRITE)
async def delete_backup(request: Request, principal: Authenticated, id: ServerId, backup_id: BackupId) -> BackupAnswer:
    """Delete one backup of the server (``deleting`` until its image upstream is gone)."""
    answer = await backends(request).storage.delete_backup(id, backup_id, tenant(principal)[1])
    return BackupAnswer(backup=backup_out(answer.backup))
