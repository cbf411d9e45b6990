"""``/v1/notifications``: the caller's in-app inbox, kept by the support service (the platform's
own API, in Hetzner's error format). So far a staff reply to one of the caller's tickets and its
resolution notify (README: Support tickets).

- ``GET /v1/notifications`` (``unread``: only the unread ones): newest first, paged, with
  ``meta.unread`` (how many are unread);
- ``POST /v1/notifications/{id}/read``: one marked read (another user's is ``404``);
- ``POST /v1/notifications/read_all``: every one marked read; how many were unread.

Scopes ``notifications:read`` and ``notifications:write``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from cloudplatform.support.v1 import notification_service_pb2 as pb
from gateway_service.api.common import Meta, page_meta
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

NotificationId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="ID of the notification (a UUID).")]


class NotificationOut(BaseModel):
    id: str
    type: str
    data: dict[str, Any]
    read: datetime | None
    created: datetime


class NotificationsMeta(Meta):
    unread: int


class NotificationsAnswer(BaseModel):
    notifications: list[NotificationOut]
    meta: NotificationsMeta


class NotificationAnswer(BaseModel):
    notification: NotificationOut


class MarkedAnswer(BaseModel):
    marked: int


def notification_out(notification: pb.Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id,
        type=notification.type,
        data=json.loads(notification.data),
        read=notification.read_at.ToDatetime(tzinfo=UTC) if notification.HasField("read_at") else None,
        created=notification.created_at.ToDatetime(tzinfo=UTC),
    )


@router.get("")
@scope(Family.NOTIFICATIONS, Access.READ)
async def list_notifications(
    request: Request,
    response: Response,
    principal: Authenticated,
    unread: bool = False,
    page: str | None = None,
    per_page: str | None = None,
) -> NotificationsAnswer:
    """The caller's notifications, newest first."""
    page_request = parse_page_request(page, per_page)
    answer = await backends(request).notifications.search(
        principal.user_id, unread_only=unread, page=page_request.page, per_page=page_request.per_page
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return NotificationsAnswer(
        notifications=[notification_out(n) for n in answer.notifications],
        meta=NotificationsMeta(pagination=meta.pagination, unread=answer.unread),
    )


@router.post("/read_all")
@scope(Family.NOTIFICATIONS, Access.WRITE)
async def mark_all_read(request: Request, principal: Authenticated) -> MarkedAnswer:
    """Mark every notification of the caller read."""
    return MarkedAnswer(marked=await backends(request).notifications.mark_all_read(principal.user_id))


@router.post("/{id}/read")
@scope(Family.NOTIFICATIONS, Access.WRITE)
async def mark_read(request: Request, principal: Authenticated, id: NotificationId) -> NotificationAnswer:
    """Mark one of the caller's notifications read."""
    notification = await backends(request).notifications.mark_read(principal.user_id, id)
    return NotificationAnswer(notification=notification_out(notification))
