"""What the monitoring tests share: the records of a service's outbox as Kafka would deliver
them, fed to monitoring's projection by the real projection runner (with its inbox)."""

from __future__ import annotations

import os
import threading
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.clock import utcnow
from cpshared.events import catalog
from cpshared.events.envelope import deterministic_event_id, new_event
from cpshared.events.projection import BatchResult, ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.timestamps import to_timestamp
from cpshared.topics import Topic, TopicKind
from monitoring_service.adapters.upstream import HcloudMetrics
from monitoring_service.domain.alert_evaluation import alert_id
from monitoring_service.entrypoints.projection import MonitoringProjection
from monitoring_service.service_layer.collection import Collector
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform


def outbox_records(engine: Engine, *, after: int = 0) -> list[RawRecord]:
    """The outbox rows after id ``after``, as the relay publishes them (offset: the row's id)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.id > after).order_by(outbox.c.id)).all()
    return [
        RawRecord(
            row.topic,
            0,
            int(row.id),
            row.message_key.encode(),
            bytes(row.envelope),
            tuple((str(k), str(v).encode()) for k, v in (row.headers or [])),
        )
        for row in rows
    ]


def project(monitoring_engine: Engine, records: list[RawRecord]) -> BatchResult:
    """Apply ``records`` to monitoring's projection in one batch, as its consumer does."""
    return ProjectionRunner(monitoring_engine, MonitoringProjection()).apply_batch(records)


class MonitoringPipeline:
    """Monitoring as the stack runs it, in a thread: its consumer applying compute's new events,
    its collector reading the simulator's metrics at the current time, and its consumer storing
    the new samples (the relay and Kafka replaced by reading the outboxes in id order)."""

    def __init__(self, platform: LivePlatform, interval: float = 0.2) -> None:
        assert platform.monitoring is not None and platform.compute is not None and platform.simulator is not None
        self.monitoring, self.compute = platform.monitoring, platform.compute
        self.collector = Collector(platform.monitoring.uow, HcloudMetrics(platform.simulator, SIMULATOR_TOKEN))
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="monitoring-pipeline", daemon=True)
        self._compute_seen = 0
        self._samples_seen = 0

    def round(self) -> None:
        events = outbox_records(self.compute.engine, after=self._compute_seen)
        if events:
            project(self.monitoring.engine, events)
            self._compute_seen = events[-1].offset
        self.collector.collect(utcnow())
        samples = outbox_records(self.monitoring.engine, after=self._samples_seen)
        if samples:
            project(self.monitoring.engine, samples)
            self._samples_seen = samples[-1].offset

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self.round()
            self.stop_event.wait(self.interval)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)


def projection_from_env() -> MonitoringProjection:
    """Monitoring's projection reading a scratch stream, for a consumer SUBPROCESS:
    ``python -m cpshared.events.consumer_main tests.integration.monitoring.support:projection_from_env``
    with CP_TEST_TOPIC (the scratch stream) and CP_TEST_CONSUMER (the consumer name)."""

    class ScratchMonitoringProjection(MonitoringProjection):
        name = os.environ["CP_TEST_CONSUMER"]
        topics = (Topic(name=os.environ["CP_TEST_TOPIC"], kind=TopicKind.DOMAIN, partitions=3),)

    return ScratchMonitoringProjection()


def trigger_alert(monitoring_engine: Engine, rule_id: int, user_id: int, resource_id: int, at: datetime) -> int:
    """An ``alert.triggered`` of the rule about ``resource_id`` at ``at``, as the alert processor
    publishes it, applied by monitoring's projection; the alert's id."""
    alert = alert_id(rule_id, resource_id, at)
    event = new_event(
        catalog.ALERT_TRIGGERED,
        producer="monitoring",
        aggregate_id=alert,
        aggregate_version=1,
        payload=monitoring_pb.AlertChanged(
            alert_id=alert,
            alert_rule_id=rule_id,
            user_id=user_id,
            resource_type="server",
            resource_id=resource_id,
            metric="cpu_usage",
            operator="gt",
            threshold="80.00",
            duration_minutes=5,
            status="triggered",
            value="95.00",
            message="triggered: cpu_usage > 80.00 for 5 min (now 95.00)",
            triggered_at=to_timestamp(at),
        ),
        event_id=deterministic_event_id("alert", alert, "triggered"),
    )
    record = RawRecord(event.topic.name, 0, 0, event.key, event.envelope.SerializeToString(), tuple(event.headers()))
    project(monitoring_engine, [record])
    return alert
