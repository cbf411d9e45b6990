"""The registry of Kafka topics: the single source of topic names and their settings.

Domain streams are the platform's history (audit and billing are rebuilt from them), so
they are kept forever. Telemetry is high-volume and kept for a limited time. Every stream
a consumer reads has a dead-letter topic beside it, ``<stream>.dlq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

FOREVER = -1
DAY_MS = 24 * 60 * 60 * 1000


class TopicKind(StrEnum):
    DOMAIN = "domain"
    TELEMETRY = "telemetry"
    DEAD_LETTER = "dead_letter"
    STATE = "state"


@dataclass(frozen=True)
class Topic:
    name: str
    kind: TopicKind
    partitions: int
    retention_ms: int = FOREVER
    cleanup_policy: str = "delete"
    description: str = ""

    def configs(self) -> dict[str, str]:
        """Topic-level configuration as Kafka names it; applied at creation and reconciled."""
        return {
            "retention.ms": str(self.retention_ms),
            # Size never limits a stream: history is kept by time (or forever), not by bytes.
            "retention.bytes": "-1",
            "cleanup.policy": self.cleanup_policy,
        }


def _domain(name: str, description: str) -> Topic:
    return Topic(name=name, kind=TopicKind.DOMAIN, partitions=6, description=description)


IDENTITY_EVENTS = _domain("identity.events", "users, organizations, API keys, quotas, settings")
COMPUTE_EVENTS = _domain("compute.events", "servers, SSH keys, images, compute actions")
NETWORK_EVENTS = _domain("network.events", "floating IPs, networks, firewalls, load balancers")
STORAGE_EVENTS = _domain("storage.events", "volumes, snapshots, backups")
BILLING_EVENTS = _domain("billing.events", "invoices, payments, credits")
MONITORING_EVENTS = _domain("monitoring.events", "alert rules, alerts, uptime monitors")
SUPPORT_EVENTS = _domain("support.events", "tickets, maintenance windows, notifications")
USAGE_EVENTS = _domain("usage.events", "metered usage of every billable resource")
GATEWAY_REQUESTS = _domain("gateway.requests", "the public API's request log, one record per call")
MONITORING_METRICS = Topic(
    name="monitoring.metrics",
    kind=TopicKind.TELEMETRY,
    partitions=6,
    retention_ms=7 * DAY_MS,
    description="raw server metric samples",
)
STREAMS: tuple[Topic, ...] = (
    IDENTITY_EVENTS,
    COMPUTE_EVENTS,
    NETWORK_EVENTS,
    STORAGE_EVENTS,
    BILLING_EVENTS,
    MONITORING_EVENTS,
    SUPPORT_EVENTS,
    USAGE_EVENTS,
    GATEWAY_REQUESTS,
    MONITORING_METRICS,
)


def dead_letter_topic(stream: Topic) -> Topic:
    return Topic(
        name=f"{stream.name}.dlq",
        kind=TopicKind.DEAD_LETTER,
        partitions=1,
        # Kept until an operator deals with it: a dead letter that expires is a lost event.
        retention_ms=FOREVER,
        description=f"events of {stream.name} that a consumer could not apply",
    )


DEAD_LETTERS: tuple[Topic, ...] = tuple(dead_letter_topic(s) for s in STREAMS)

ALERT_WINDOWS_CHANGELOG = Topic(
    name="monitoring-alerts-alert_windows-changelog",
    kind=TopicKind.STATE,
    # Co-partitioned with monitoring.metrics: a window is written to its sample's partition.
    partitions=MONITORING_METRICS.partitions,
    cleanup_policy="compact",
    description="the alert processor's windows (faust table alert_windows), one per (rule, server)",
)
STATE_TOPICS: tuple[Topic, ...] = (ALERT_WINDOWS_CHANGELOG,)
"""Stream processors' state (faust tables' changelogs): compacted, the last value per key kept."""

ALL_TOPICS: tuple[Topic, ...] = STREAMS + DEAD_LETTERS + STATE_TOPICS

BY_NAME: dict[str, Topic] = {t.name: t for t in ALL_TOPICS}

SERVICE_STREAMS: dict[str, Topic] = {
    "identity": IDENTITY_EVENTS,
    "compute": COMPUTE_EVENTS,
    "network": NETWORK_EVENTS,
    "storage": STORAGE_EVENTS,
    "billing": BILLING_EVENTS,
    "monitoring": MONITORING_EVENTS,
    "support": SUPPORT_EVENTS,
    "gateway": GATEWAY_REQUESTS,
}
"""The stream each service records its own events on (audit only consumes)."""
