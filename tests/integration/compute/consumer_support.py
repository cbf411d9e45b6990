"""Compute's account projection for a consumer SUBPROCESS reading a scratch stream:
``python -m cpshared.events.consumer_main tests.integration.compute.consumer_support:from_env``
with CP_TEST_TOPIC (the scratch stream) and CP_TEST_CONSUMER (the consumer name)."""

from __future__ import annotations

import os

from compute_service.entrypoints.account_projection import AccountProjection
from cpshared.topics import Topic, TopicKind


def from_env() -> AccountProjection:
    class ScratchAccountProjection(AccountProjection):
        name = os.environ["CP_TEST_CONSUMER"]
        topics = (Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3),)

    return ScratchAccountProjection()
