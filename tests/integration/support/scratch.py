"""Support's notification reaction over a scratch stream, for a consumer subprocess the tests kill."""

from __future__ import annotations

import os

from cpshared.topics import Topic, TopicKind
from support_service.entrypoints.notification_projection import NotificationProjection


def notifications_from_env() -> NotificationProjection:
    """The reaction over the scratch stream CP_TEST_TOPIC, as consumer group CP_TEST_CONSUMER."""
    topic = Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3)

    class ScratchNotifications(NotificationProjection):
        topics = (topic,)

    ScratchNotifications.name = os.environ.get("CP_TEST_CONSUMER", "support-test")
    return ScratchNotifications()
