"""Identity's billing projection for a consumer SUBPROCESS reading a scratch stream:
``python -m cpshared.events.consumer_main tests.integration.dunning.support:identity_from_env``
with CP_TEST_TOPIC (the scratch stream) and CP_TEST_CONSUMER (the consumer name)."""

from __future__ import annotations

import os

from cpshared.topics import Topic, TopicKind
from identity_service.entrypoints.billing_projection import BillingProjection


def identity_from_env() -> BillingProjection:
    class ScratchBillingProjection(BillingProjection):
        name = os.environ["CP_TEST_CONSUMER"]
        topics = (Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3),)

    return ScratchBillingProjection()
