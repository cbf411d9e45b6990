"""Kafka is the real broker: a round trip through aiokafka, and the topics as the registry declares."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cpshared.kafka_admin import describe_topics_async, ensure_topics_async
from cpshared.topics import ALL_TOPICS, BY_NAME


async def test_a_message_makes_a_round_trip_through_the_broker(kafka_bootstrap: str) -> None:
    topic = f"it-roundtrip-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            sent = [await producer.send_and_wait(topic, f"v{i}".encode(), key=b"server-1") for i in range(20)]
        finally:
            await producer.stop()
        assert len({m.partition for m in sent}) == 1  # one key, one partition: order holds
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        try:
            received: list[bytes] = []
            while len(received) < 20:
                batch = await consumer.getmany(timeout_ms=5000)
                assert batch, "no message came back from the broker"
                received += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
        finally:
            await consumer.stop()
        assert received == [f"v{i}".encode() for i in range(20)]
        cluster = await admin.describe_cluster()
        assert cluster["controller_id"] == 1 and len(cluster["brokers"]) == 1
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_every_declared_topic_exists_with_its_declared_configuration(kafka_bootstrap: str) -> None:
    actual = await describe_topics_async(kafka_bootstrap)
    assert set(actual) == set(BY_NAME)
    for topic in ALL_TOPICS:
        for key, value in topic.configs().items():
            assert actual[topic.name][key] == value, (topic.name, key)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in ALL_TOPICS])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {t.name: t.partitions for t in ALL_TOPICS}


async def test_ensuring_topics_again_changes_nothing(kafka_bootstrap: str) -> None:
    changes = await ensure_topics_async(kafka_bootstrap)
    assert {c.action for c in changes} == {"unchanged"}


async def test_a_drifted_topic_configuration_is_put_back(kafka_bootstrap: str) -> None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    topic = BY_NAME["support.events"]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        drifted = topic.configs() | {"retention.ms": "60000"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic.name, configs=drifted)])
    finally:
        await admin.close()
    changes = {c.topic: c for c in await ensure_topics_async(kafka_bootstrap)}
    assert changes[topic.name].action == "reconfigured"
    assert (await describe_topics_async(kafka_bootstrap))[topic.name]["retention.ms"] == "-1"
