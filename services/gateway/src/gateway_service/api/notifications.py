"""``/v1/notifications``: the caller's in-app inbox, kept by the support service (the platform's
own API, in Hetzner's error format). So far a staff reply to one of the caller's tickets and its
resolution notify (README: Support tickets).

- ``GET /v1/notifications`` (``unread``: only the unread ones): newest first, paged, with
  ``meta.unread`` (how many are unread);
- ``POST /v1/notifications/{id}/read``: one marked read (another user's is ``404``);
- ``POST /v1/notifications/read_all``: every one marked read; how many were unread.
- ``GET /v1/notifications/preferences``: per kind and channel (``in_app``, ``email``) whether
  the caller hears of it there; ``PUT`` sets choices (an unknown kind or channel is ``400``).
- ``GET /v1/notifications/webhook_secret``: the secret that signs the account's webhooks (an
  alert rule's webhook channel: ``X-CloudPlatform-Signature: sha256=<hex HMAC-SHA256 of the
  body>``), the caller's own or, with a key bound to an organization, the organization's (its
  owners and admins only); ``POST /v1/notifications/webhook_secret/rotate``: a new one. Both
  need ``notifications:write`` (the secret lets its holder sign).

Scopes ``notifications:read`` and ``notifications:write``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.support.v1 import notification_service_pb2 as pb
from gateway_service.api.common import Meta, page_meta, tenant
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


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=100, description="The notification kind, e.g. ticket_replied.")
    channel: Literal["in_app", "email"]
    enabled: bool


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: list[PreferenceIn] = Field(min_length=1, max_length=200)


class PreferenceOut(BaseModel):
    kind: str
    channel: str
    enabled: bool


class PreferencesAnswer(BaseModel):
    preferences: list[PreferenceOut]


def preferences_answer(found: list[pb.NotificationPreference]) -> PreferencesAnswer:
    return PreferencesAnswer(
        preferences=[PreferenceOut(kind=p.kind, channel=p.channel, enabled=p.enabled) for p in found]
    )


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


@router.get("/preferences")
@scope(Family.NOTIFICATIONS, Access.READ)
async def get_preferences(request: Request, principal: Authenticated) -> PreferencesAnswer:
    """Per notification kind and channel, whether the caller hears of it there."""
    return preferences_answer(await backends(request).notifications.preferences(principal.user_id))


@router.put("/preferences")
@scope(Family.NOTIFICATIONS, Access.WRITE)
async def set_preferences(request: Request, principal: Authenticated, body: PreferencesIn) -> PreferencesAnswer:
    """Set the caller's choices (the kinds and channels not named keep theirs)."""
    wanted = [pb.NotificationPreference(kind=p.kind, channel=p.channel, enabled=p.enabled) for p in body.preferences]
    return preferences_answer(await backends(request).notifications.set_preferences(principal.user_id, wanted))


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


class WebhookSecretOut(BaseModel):
    secret: str = Field(description="HMAC-SHA256 key of the X-CloudPlatform-Signature header.")
    account_type: Literal["user", "organization"]
    account_id: int


class WebhookSecretAnswer(BaseModel):
    webhook_secret: WebhookSecretOut


async def _webhook_secret(request: Request, principal: Authenticated, *, rotate: bool) -> WebhookSecretAnswer:
    user_id, organization_id = tenant(principal)
    found = await backends(request).notifications.webhook_secret(user_id, organization_id, rotate=rotate)
    account_type: Literal["user", "organization"] = "organization" if found.account_type == "organization" else "user"
    return WebhookSecretAnswer(
        webhook_secret=WebhookSecretOut(secret=found.secret, account_type=account_type, account_id=found.account_id)
    )


@router.get("/webhook_secret")
@scope(Family.NOTIFICATIONS, Access.WRITE)
async def get_webhook_secret(request: Request, principal: Authenticated) -> WebhookSecretAnswer:
    """The secret that signs the account's webhooks (made on first use)."""
    return await _webhook_secret(request, principal, rotate=False)


@router.post("/webhook_secret/rotate")
@scope(Family.NOTIFICATIONS, Access.WRITE)
async def rotate_webhook_secret(request: Request, principal: Authenticated) -> WebhookSecretAnswer:
    """A new secret; webhooks from now on (retries too) are signed with it."""
    return await _webhook_secret(request, principal, rotate=True)
