"""Building, encoding and reading event envelopes.

A Kafka record on a domain stream is: key = aggregate id, value = serialized
EventEnvelope, headers = event type, event id, schema version (so a consumer can route or
skip without parsing the value).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import uuid_utils
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from cloudplatform.events.v1.envelope_pb2 import Actor, EventEnvelope
from cpshared.clock import utcnow
from cpshared.context import ActorContext, actor_var, causation_id_var, correlation_id_var, current_principal
from cpshared.events.catalog import REGISTRY
from cpshared.events.registry import EventRegistry, EventSpec, UnreadableEvent
from cpshared.topics import SERVICE_STREAMS, Topic

HEADER_EVENT_TYPE = "event-type"
HEADER_EVENT_ID = "event-id"
HEADER_SCHEMA_VERSION = "schema-version"
HEADER_CONTENT_TYPE = "content-type"
CONTENT_TYPE = b"application/x-protobuf; messageType=cloudplatform.events.v1.EventEnvelope"


def new_event_id() -> str:
    return str(uuid_utils.uuid7())


# Namespace of the platform's name-based (UUIDv5) event ids.
DETERMINISTIC_NAMESPACE = uuid.UUID("6f1c1d1e-6a43-4d36-9a59-2f4f0c6a7c01")


def deterministic_event_id(*parts: object) -> str:
    """An event id that is a function of ``parts``: the same fact recorded twice gets one id,
    which the outbox (unique event id) and every consumer's inbox count once."""
    return str(uuid.uuid5(DETERMINISTIC_NAMESPACE, "\x1f".join(str(part) for part in parts)))


def usage_event_id(resource_type: str, resource_id: int, metric_type: str, period_start_epoch: int) -> str:
    """The id of the ``usage.recorded`` event of one resource, metric and period (start as Unix seconds)."""
    return deterministic_event_id("usage.recorded", resource_type, resource_id, metric_type, period_start_epoch)


def event_id_bytes(event_id: str) -> bytes:
    """The 16-byte form stored in inbox, outbox and dead-letter keys."""
    return uuid.UUID(event_id).bytes


@dataclass(frozen=True)
class PendingEvent:
    """An event recorded by a handler, waiting in its unit of work for the commit."""

    envelope: EventEnvelope
    topic: Topic

    @property
    def key(self) -> bytes:
        return self.envelope.aggregate_id.encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return record_headers(self.envelope)


def record_headers(envelope: EventEnvelope) -> list[tuple[str, bytes]]:
    return [
        (HEADER_EVENT_TYPE, envelope.event_type.encode()),
        (HEADER_EVENT_ID, envelope.event_id.encode()),
        (HEADER_SCHEMA_VERSION, str(envelope.schema_version).encode()),
        (HEADER_CONTENT_TYPE, CONTENT_TYPE),
    ]


def _actor() -> ActorContext:
    """Who the event is recorded for: the request's actor, with the user and API key of the
    call's verified principal where the actor does not name them (a backend service knows the
    user from the assertion it verified, the address from the gateway's metadata)."""
    actor = actor_var.get()
    principal = current_principal()
    if actor.user_id == 0 and principal is not None and not principal.is_service:
        actor = replace(actor, user_id=principal.user_id, api_key_id=principal.api_key_id)
    if not actor.request_id:
        actor = replace(actor, request_id=correlation_id_var.get() or "")
    return actor


def new_event(
    spec: EventSpec,
    *,
    producer: str,
    aggregate_id: str | int,
    aggregate_version: int,
    payload: Message,
    causation_id: str | None = None,
    topic: Topic | None = None,
    event_id: str | None = None,
) -> PendingEvent:
    """An envelope for ``payload``: id, time, correlation, causation and actor from the context.

    The stream is the event type's own, else ``topic``, else the producer's stream. The id is a
    fresh UUIDv7 unless ``event_id`` gives one (a deterministic id, see :func:`deterministic_event_id`).
    """
    if not isinstance(payload, spec.message):
        raise TypeError(f"{spec.event_type} carries {spec.message.__name__}, not {type(payload).__name__}")
    topic = spec.topic or topic or SERVICE_STREAMS.get(producer)
    if topic is None:
        raise ValueError(f"{spec.event_type} names no stream and {producer!r} has none of its own")
    occurred = Timestamp()
    occurred.FromDatetime(utcnow())
    actor = _actor()
    packed = AnyMessage()
    packed.Pack(payload)
    envelope = EventEnvelope(
        event_id=event_id or new_event_id(),
        event_type=spec.event_type,
        schema_version=spec.version,
        aggregate_type=spec.aggregate_type,
        aggregate_id=str(aggregate_id),
        aggregate_version=aggregate_version,
        occurred_at=occurred,
        producer=producer,
        correlation_id=correlation_id_var.get() or "",
        causation_id=causation_id or causation_id_var.get() or "",
        actor=Actor(
            user_id=actor.user_id,
            organization_id=actor.organization_id,
            api_key_id=actor.api_key_id,
            ip=actor.ip,
            user_agent=actor.user_agent,
            request_id=actor.request_id,
            service="" if actor.user_id else producer,
        ),
        payload=packed,
    )
    return PendingEvent(envelope=envelope, topic=topic)


@dataclass(frozen=True)
class ReceivedEvent:
    """An event as a consumer sees it: where it came from, its envelope and current payload."""

    topic: str
    partition: int
    offset: int
    envelope: EventEnvelope
    payload: Message

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def event_type(self) -> str:
        return self.envelope.event_type


def parse_envelope(value: bytes) -> EventEnvelope:
    envelope = EventEnvelope()
    try:
        envelope.ParseFromString(value)
    except DecodeError as exc:
        raise UnreadableEvent(f"not an EventEnvelope: {exc}") from exc
    if not envelope.event_id or not envelope.event_type:
        raise UnreadableEvent("envelope without event id or type")
    return envelope


def read_event(
    topic: str, partition: int, offset: int, value: bytes, registry: EventRegistry = REGISTRY
) -> ReceivedEvent:
    envelope = parse_envelope(value)
    payload = registry.decode_payload(envelope.event_type, envelope.schema_version, envelope.payload)
    return ReceivedEvent(topic=topic, partition=partition, offset=offset, envelope=envelope, payload=payload)
