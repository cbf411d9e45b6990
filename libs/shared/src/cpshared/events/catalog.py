"""The platform's event catalog: every event type, in one registry every service imports.

Producers look up the stream and schema version of what they record here; consumers read
any service's events through it. Each domain adds its events (and upcasters) as it grows.
"""

from __future__ import annotations

from google.protobuf.message import Message

from cloudplatform.ops.v1 import canary_pb2
from cpshared.events.registry import EventRegistry, EventSpec
from cpshared.topics import Topic

REGISTRY = EventRegistry()


def event(event_type: str, version: int, message: type[Message], aggregate_type: str, topic: Topic | None) -> EventSpec:
    return REGISTRY.register(EventSpec(event_type, version, message, topic, aggregate_type))


# A synthetic event an operator sends through a service's outbox to check the pipeline;
# it travels on the stream of the service that emitted it (topic None).
CANARY_EMITTED = event("ops.canary_emitted", 1, canary_pb2.CanaryEmitted, "canary", topic=None)
