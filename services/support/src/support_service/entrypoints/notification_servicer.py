"""The NotificationService gRPC API: a user's own inbox and preferences (adapters/authorization.py:
a user acts only as itself), and an account's webhook secret (the user's own; an organization's
for its owners and admins)."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.support.v1 import notification_service_pb2 as pb
from cloudplatform.support.v1 import notification_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from support_service.adapters import authorization as authz
from support_service.bootstrap import Support
from support_service.domain.delivery import InvalidPreference, Preference
from support_service.domain.monitoring_notices import account_of
from support_service.domain.notifications import Notification
from support_service.entrypoints.ticket_servicer import MAX_PER_PAGE
from support_service.service_layer import notifications

Context = aio.ServicerContext[Any, Any]


def notification_message(notification: Notification) -> pb.Notification:
    return pb.Notification(
        id=notification.id,
        type=notification.type,
        data=notification.data_text(),
        read_at=_ts(notification.read_at),
        created_at=_ts(notification.created_at),
    )


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, support: Support) -> None:
        self._support = support

    async def ListNotifications(  # noqa: N802
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        authz.check_tenant(request.user_id, 0)
        per_page = min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25
        found, total, unread = await asyncio.to_thread(
            notifications.search,
            request.user_id,
            self._support.uow(),
            unread_only=request.unread_only,
            page=max(request.page, 1),
            per_page=per_page,
        )
        return pb.ListNotificationsResponse(
            notifications=[notification_message(n) for n in found], total_entries=total, unread=unread
        )

    async def MarkNotificationRead(  # noqa: N802
        self, request: pb.MarkNotificationReadRequest, context: Context
    ) -> pb.MarkNotificationReadResponse:
        authz.check_tenant(request.user_id, 0)
        found = await asyncio.to_thread(
            notifications.mark_read, request.user_id, request.notification_id, self._support.uow()
        )
        return pb.MarkNotificationReadResponse(notification=notification_message(found))

    async def MarkAllNotificationsRead(  # noqa: N802
        self, request: pb.MarkAllNotificationsReadRequest, context: Context
    ) -> pb.MarkAllNotificationsReadResponse:
        authz.check_tenant(request.user_id, 0)
        marked = await asyncio.to_thread(notifications.mark_all_read, request.user_id, self._support.uow())
        return pb.MarkAllNotificationsReadResponse(marked=marked)

    async def GetNotificationPreferences(  # noqa: N802
        self, request: pb.GetNotificationPreferencesRequest, context: Context
    ) -> pb.GetNotificationPreferencesResponse:
        authz.check_tenant(request.user_id, 0)
        found = await asyncio.to_thread(notifications.preferences, request.user_id, self._support.uow())
        return pb.GetNotificationPreferencesResponse(preferences=[preference_message(p) for p in found])

    async def SetNotificationPreferences(  # noqa: N802
        self, request: pb.SetNotificationPreferencesRequest, context: Context
    ) -> pb.SetNotificationPreferencesResponse:
        authz.check_tenant(request.user_id, 0)
        wanted = [Preference(p.kind, p.channel, p.enabled) for p in request.preferences]
        try:
            found = await asyncio.to_thread(notifications.set_preferences, request.user_id, wanted, self._support.uow())
        except InvalidPreference as exc:
            raise InvalidInput(str(exc)) from None
        return pb.SetNotificationPreferencesResponse(preferences=[preference_message(p) for p in found])

    async def GetWebhookSecret(  # noqa: N802
        self, request: pb.GetWebhookSecretRequest, context: Context
    ) -> pb.GetWebhookSecretResponse:
        authz.check_account_manager(request.user_id, request.organization_id, "its webhook secret")
        secret = await asyncio.to_thread(
            notifications.webhook_secret, request.user_id, request.organization_id, self._support.uow()
        )
        return pb.GetWebhookSecretResponse(webhook_secret=_secret(request, secret))

    async def RotateWebhookSecret(  # noqa: N802
        self, request: pb.RotateWebhookSecretRequest, context: Context
    ) -> pb.RotateWebhookSecretResponse:
        authz.check_account_manager(request.user_id, request.organization_id, "its webhook secret")
        secret = await asyncio.to_thread(
            notifications.rotate_webhook_secret, request.user_id, request.organization_id, self._support.uow()
        )
        return pb.RotateWebhookSecretResponse(webhook_secret=_secret(request, secret))


def _secret(request: pb.GetWebhookSecretRequest | pb.RotateWebhookSecretRequest, secret: str) -> pb.WebhookSecret:
    account_type, account_id = account_of(request.user_id, request.organization_id)
    return pb.WebhookSecret(secret=secret, account_type=account_type, account_id=account_id)


def preference_message(preference: Preference) -> pb.NotificationPreference:
    return pb.NotificationPreference(kind=preference.kind, channel=preference.channel, enabled=preference.enabled)


def add_notification_servicer(server: aio.Server, support: Support) -> list[str]:
    pb_grpc.add_NotificationServiceServicer_to_server(NotificationServicer(support), server)
    return [pb.DESCRIPTOR.services_by_name["NotificationService"].full_name]
