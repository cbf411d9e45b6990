"""The event registry's upcaster chain, with real protobuf messages and stored golden payloads.

A pretend event ``volume.resized`` went through three payload schemas:

- v1 ``VolumeResizedV1``: ``owner_name`` ("organization/user") and ``size`` (in GB);
- v2 ``VolumeResizedV2``: the same, renamed to ``owner`` and ``size_gb``;
- v3 ``VolumeResizedV3``: ``owner`` split into ``organization`` and ``user``.

The messages are built at run time from a FileDescriptorProto, in a pool of their own. The
golden payloads are the serialized ``Any`` a v1 and a v2 producer wrote; they are stored
here as hex and must never change: they stand for events already in a stream forever.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message

from cpshared.events.catalog import REGISTRY
from cpshared.events.registry import EventRegistry, EventSpec, UnknownEventType, UnreadableEvent, Upcaster

EVENT = "volume.resized"

GOLDEN_V1 = bytes.fromhex(
    "0a34747970652e676f6f676c65617069732e636f6d2f74657374732e70726574656e642e76312e566f6c756d65526573697a6564"
    "5631120c0a0861636d652f6164611028"
)
"""VolumeResizedV1(owner_name="acme/ada", size=40), packed in an Any."""
GOLDEN_V2 = bytes.fromhex(
    "0a34747970652e676f6f676c65617069732e636f6d2f74657374732e70726574656e642e76312e566f6c756d65526573697a6564"
    "5632120e0a0a61636d652f67726163651050"
)
"""VolumeResizedV2(owner="acme/grace", size_gb=80), packed in an Any."""


def build_messages() -> dict[str, type[Message]]:
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="tests/pretend/v1/volume.proto", package="tests.pretend.v1", syntax="proto3"
    )
    schemas = {
        "VolumeResizedV1": [("owner_name", 1, field.TYPE_STRING), ("size", 2, field.TYPE_INT64)],
        "VolumeResizedV2": [("owner", 1, field.TYPE_STRING), ("size_gb", 2, field.TYPE_INT64)],
        "VolumeResizedV3": [
            ("organization", 1, field.TYPE_STRING),
            ("size_gb", 2, field.TYPE_INT64),
            ("user", 3, field.TYPE_STRING),
        ],
    }
    for name, fields in schemas.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind in fields:
            message.field.add(name=field_name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tests.pretend.v1.{name}"))
        for name in schemas
    }


MESSAGES = build_messages()
V1, V2, V3 = MESSAGES["VolumeResizedV1"], MESSAGES["VolumeResizedV2"], MESSAGES["VolumeResizedV3"]


def upcast_v1_v2(old: Any) -> Message:
    """Fields renamed: owner_name -> owner, size -> size_gb."""
    return V2(owner=old.owner_name, size_gb=old.size)


def upcast_v2_v3(old: Any) -> Message:
    """owner "organization/user" split in two; an owner without a slash is an organization."""
    organization, _, user = old.owner.partition("/")
    return V3(organization=organization, user=user, size_gb=old.size_gb)


def make_registry(*, with_v2_v3: bool = True) -> EventRegistry:
    registry = EventRegistry()
    registry.register(EventSpec(EVENT, 3, V3, topic=None, aggregate_type="volume"))
    registry.register_upcaster(Upcaster(EVENT, 1, V1, upcast_v1_v2))
    if with_v2_v3:
        registry.register_upcaster(Upcaster(EVENT, 2, V2, upcast_v2_v3))
    return registry


def stored(golden: bytes) -> AnyMessage:
    payload = AnyMessage()
    payload.ParseFromString(golden)
    return payload


def packed(message: Message) -> AnyMessage:
    payload = AnyMessage()
    payload.Pack(message)
    return payload


def test_a_stored_v1_payload_reads_as_the_v3_message_through_both_upcasters() -> None:
    payload = make_registry().decode_payload(EVENT, 1, stored(GOLDEN_V1))

    assert isinstance(payload, V3)
    assert payload == V3(organization="acme", user="ada", size_gb=40)


def test_a_stored_v2_payload_reads_as_the_v3_message() -> None:
    payload = make_registry().decode_payload(EVENT, 2, stored(GOLDEN_V2))

    assert isinstance(payload, V3)
    assert payload == V3(organization="acme", user="grace", size_gb=80)


def test_a_current_payload_is_read_as_it_is() -> None:
    written = V3(organization="acme", user="linus", size_gb=120)

    assert make_registry().decode_payload(EVENT, 3, packed(written)) == written


def test_the_golden_payloads_are_what_the_old_schemas_wrote() -> None:
    # Guards the test itself: the pretend schemas above still match the stored bytes.
    assert stored(GOLDEN_V1).Unpack(v1 := V1()) and v1 == V1(owner_name="acme/ada", size=40)
    assert stored(GOLDEN_V2).Unpack(v2 := V2()) and v2 == V2(owner="acme/grace", size_gb=80)


def test_an_event_newer_than_the_code_is_unreadable_and_says_to_deploy() -> None:
    with pytest.raises(UnreadableEvent, match=r"volume.resized v4 is newer than this code knows \(v3\)"):
        make_registry().decode_payload(EVENT, 4, packed(V3(organization="acme")))


def test_a_payload_that_is_not_the_message_of_its_version_is_unreadable() -> None:
    with pytest.raises(
        UnreadableEvent, match=r"v2 carries .*VolumeResizedV1, expected tests.pretend.v1.VolumeResizedV2"
    ):
        make_registry().decode_payload(EVENT, 2, stored(GOLDEN_V1))


def test_a_gap_in_the_chain_is_named_and_reading_across_it_fails_clearly() -> None:
    registry = make_registry(with_v2_v3=False)

    assert registry.missing_upcasters() == [(EVENT, 2)]
    for version, golden in ((1, GOLDEN_V1), (2, GOLDEN_V2)):
        with pytest.raises(UnreadableEvent, match=r"no upcaster reads volume.resized v2"):
            registry.decode_payload(EVENT, version, stored(golden))
    assert make_registry().missing_upcasters() == []


def test_an_upcaster_chain_that_does_not_end_in_the_current_message_is_unreadable() -> None:
    registry = EventRegistry()
    registry.register(EventSpec(EVENT, 2, V3, topic=None, aggregate_type="volume"))
    registry.register_upcaster(Upcaster(EVENT, 1, V1, upcast_v1_v2))  # ends in V2, not V3

    with pytest.raises(UnreadableEvent, match="end in VolumeResizedV2"):
        registry.decode_payload(EVENT, 1, stored(GOLDEN_V1))


def test_an_unknown_event_type_is_named() -> None:
    with pytest.raises(UnknownEventType, match=r"volume\.deleted"):
        make_registry().decode_payload("volume.deleted", 1, stored(GOLDEN_V1))


def test_an_upcaster_or_a_different_spec_cannot_be_registered_twice() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register_upcaster(Upcaster(EVENT, 1, V1, upcast_v1_v2))
    with pytest.raises(ValueError, match="already registered differently"):
        registry.register(EventSpec(EVENT, 4, V3, topic=None, aggregate_type="volume"))


def test_the_platform_registry_has_no_gap_in_any_upcaster_chain() -> None:
    assert REGISTRY.missing_upcasters() == []
