"""Which events exist: their type, schema version, payload message, stream — and upcasters.

An event's payload schema may change. The current version is what producers write; an
event stored in an older version is read through a chain of upcasters, each turning a
payload of version N into one of version N+1, so consumers only ever see the current
message. Old payload messages stay in the contracts under their own names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from cpshared.topics import Topic


class UnknownEventType(LookupError):
    pass


class UnreadableEvent(ValueError):
    """The payload cannot be turned into the current message of its event type."""


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    version: int
    message: type[Message]
    topic: Topic | None
    """The stream it travels on; None: the stream of the service that records it."""
    aggregate_type: str


@dataclass(frozen=True)
class Upcaster:
    event_type: str
    from_version: int
    message: type[Message]
    """The payload message of ``from_version``."""
    upcast: Callable[[Any], Message]
    """Turns a ``from_version`` payload into a ``from_version + 1`` payload."""


class EventRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, EventSpec] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, spec: EventSpec) -> EventSpec:
        existing = self._specs.get(spec.event_type)
        if existing is not None and existing != spec:
            raise ValueError(f"event type {spec.event_type!r} is already registered differently")
        if spec.version < 1:
            raise ValueError(f"{spec.event_type}: schema versions start at 1")
        self._specs[spec.event_type] = spec
        return spec

    def register_upcaster(self, upcaster: Upcaster) -> None:
        key = (upcaster.event_type, upcaster.from_version)
        if key in self._upcasters:
            raise ValueError(f"an upcaster from {key} is already registered")
        self._upcasters[key] = upcaster

    def spec(self, event_type: str) -> EventSpec:
        try:
            return self._specs[event_type]
        except KeyError:
            raise UnknownEventType(f"no event type {event_type!r} is registered") from None

    def specs(self) -> list[EventSpec]:
        return list(self._specs.values())

    def missing_upcasters(self) -> list[tuple[str, int]]:
        """(event type, version) pairs that could not be read today: the chain has a gap."""
        return [
            (spec.event_type, version)
            for spec in self._specs.values()
            for version in range(1, spec.version)
            if (spec.event_type, version) not in self._upcasters
        ]

    def decode_payload(self, event_type: str, schema_version: int, payload: AnyMessage) -> Message:
        """The payload as the current message of its type, upcast from an older version if needed."""
        spec = self.spec(event_type)
        if schema_version > spec.version:
            raise UnreadableEvent(
                f"{event_type} v{schema_version} is newer than this code knows (v{spec.version}): deploy the consumer"
            )
        version = schema_version
        message_cls = spec.message if version == spec.version else self._upcaster(event_type, version).message
        message = message_cls()
        if not payload.Unpack(message):
            raise UnreadableEvent(
                f"{event_type} v{version} carries {payload.type_url}, expected {message_cls.DESCRIPTOR.full_name}"
            )
        while version < spec.version:
            message = self._upcaster(event_type, version).upcast(message)
            version += 1
        if not isinstance(message, spec.message):
            raise UnreadableEvent(f"the upcasters of {event_type} end in {type(message).__name__}")
        return message

    def _upcaster(self, event_type: str, version: int) -> Upcaster:
        try:
            return self._upcasters[(event_type, version)]
        except KeyError:
            raise UnreadableEvent(f"no upcaster reads {event_type} v{version}") from None
