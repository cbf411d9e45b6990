"""The gateway's calls to the support service's NotificationService: the caller's own inbox
(support checks the user again from the principal)."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.support.v1 import notification_service_pb2 as pb
from cloudplatform.support.v1 import notification_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "support"


class NotificationClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _inbox(self) -> pb_grpc.NotificationServiceAsyncStub:
        return pb_grpc.NotificationServiceStub(self._channel())

    async def search(
        self, user_id: int, *, unread_only: bool, page: int, per_page: int
    ) -> pb.ListNotificationsResponse:
        request = pb.ListNotificationsRequest(user_id=user_id, unread_only=unread_only, page=page, per_page=per_page)
        return await backend_call(BACKEND, self._inbox().ListNotifications(request))

    async def mark_read(self, user_id: int, notification_id: str) -> pb.Notification:
        request = pb.MarkNotificationReadRequest(user_id=user_id, notification_id=notification_id)
        return (await backend_call(BACKEND, self._inbox().MarkNotificationRead(request))).notification

    async def mark_all_read(self, user_id: int) -> int:
        request = pb.MarkAllNotificationsReadRequest(user_id=user_id)
        return (await backend_call(BACKEND, self._inbox().MarkAllNotificationsRead(request))).marked

    async def preferences(self, user_id: int) -> list[pb.NotificationPreference]:
        request = pb.GetNotificationPreferencesRequest(user_id=user_id)
        return list((await backend_call(BACKEND, self._inbox().GetNotificationPreferences(request))).preferences)

    async def set_preferences(
        self, user_id: int, wanted: list[pb.NotificationPreference]
    ) -> list[pb.NotificationPreference]:
        request = pb.SetNotificationPreferencesRequest(user_id=user_id, preferences=wanted)
        return list((await backend_call(BACKEND, self._inbox().SetNotificationPreferences(request))).preferences)

    async def webhook_secret(self, user_id: int, organization_id: int, *, rotate: bool) -> pb.WebhookSecret:
        """The account's webhook signing secret (``rotate``: a new one first)."""
        if rotate:
            rotated = pb.RotateWebhookSecretRequest(user_id=user_id, organization_id=organization_id)
            return (await backend_call(BACKEND, self._inbox().RotateWebhookSecret(rotated))).webhook_secret
        request = pb.GetWebhookSecretRequest(user_id=user_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._inbox().GetWebhookSecret(request))).webhook_secret
