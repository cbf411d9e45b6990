"""Creates and reconciles the Kafka topics declared in cpshared.topics.

Used by `cloudctl topics` and, where there is no cloudctl (containers, Kubernetes jobs),
as ``python -m cpshared.kafka_admin ensure``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cpshared.topics import ALL_TOPICS, Topic


@dataclass
class TopicChange:
    topic: str
    action: str  # "created" | "reconfigured" | "unchanged"
    detail: str = ""


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            # (error_code, error_message, resource_type, resource_name, config_entries)
            name, entries = resource[3], resource[4]
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def ensure_topics_async(
    bootstrap: str, topics: tuple[Topic, ...] = ALL_TOPICS, replication_factor: int = 1
) -> list[TopicChange]:
    """Create missing topics; bring existing ones to their declared configuration."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        changes: list[TopicChange] = []
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=t.name,
                        num_partitions=t.partitions,
                        replication_factor=replication_factor,
                        topic_configs=t.configs(),
                    )
                    for t in missing
                ]
            )
            changes += [TopicChange(t.name, "created", f"{t.partitions} partitions") for t in missing]
        present = [t for t in topics if t.name in existing]
        current = await _describe(admin, [t.name for t in present])
        to_alter = []
        for topic in present:
            wanted = topic.configs()
            differing = {k: v for k, v in wanted.items() if current.get(topic.name, {}).get(k) != v}
            if differing:
                to_alter.append(ConfigResource(ConfigResourceType.TOPIC, topic.name, configs=wanted))
                changes.append(
                    TopicChange(topic.name, "reconfigured", ", ".join(f"{k}={v}" for k, v in differing.items()))
                )
            else:
                changes.append(TopicChange(topic.name, "unchanged"))
        if to_alter:
            await admin.alter_configs(to_alter)
        return changes
    finally:
        await admin.close()


def ensure_topics(bootstrap: str, replication_factor: int = 1) -> list[TopicChange]:
    return asyncio.run(ensure_topics_async(bootstrap, replication_factor=replication_factor))


async def topic_partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics``; raises LookupError naming a topic the broker lacks."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions: list[TopicPartition] = []
    for entry in described:
        if entry.get("error_code"):
            raise LookupError(f"topic {entry['topic']} does not exist: run `cloudctl topics --ensure`")
        partitions += [TopicPartition(entry["topic"], p["partition"]) for p in entry["partitions"]]
    return sorted(partitions)


async def describe_topics_async(bootstrap: str) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        return await _describe(admin, sorted(existing & {t.name for t in ALL_TOPICS}))
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m cpshared.kafka_admin")
    parser.add_argument("command", choices=["ensure"])
    parser.add_argument("--bootstrap", default=os.environ.get("CP_KAFKA_BOOTSTRAP"))
    parser.add_argument(
        "--replication-factor", type=int, default=int(os.environ.get("CP_KAFKA_REPLICATION_FACTOR", "1"))
    )
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("CP_KAFKA_BOOTSTRAP is not set and --bootstrap was not given")
    for change in ensure_topics(args.bootstrap, replication_factor=args.replication_factor):
        print(f"{change.topic}: {change.action} {change.detail}".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
