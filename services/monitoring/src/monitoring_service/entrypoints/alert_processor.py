"""The alert processor: ``python -m monitoring_service.entrypoints.alert_processor``.

A faust-streaming stream processor (not a projection): it follows ``monitoring.metrics`` and
keeps ONE state per (rule, server) in the table ``alert_windows`` — since when the rule's
condition has held without a break, the last sample seen, whether the alert fires
(domain/alert_evaluation.py). The table lives in memory and is backed by its changelog topic
``monitoring-alerts-alert_windows-changelog`` (compacted, declared in cpshared/topics.py like
every topic: the processor declares none itself), so a restarted or moved processor restores
every window from Kafka and goes on where the last one stopped.

Samples of one server share a key (the server), so one partition; a table write goes to the
changelog partition of the record in hand, so each window sits with its server's samples.
Each transition is published as ``alert.triggered`` / ``alert.resolved`` (catalog.py) on
``monitoring.events`` BEFORE the window is updated. The alert's id is a function of (rule,
server, triggered_at), the event's id of (alert, kind), its time the sample's: a crash in
between re-sends the same event (at least once, identical: every consumer's inbox counts it
once), never loses it, and a replay of the stream from the start gives the same events.

The enabled server rules and the servers' tenants are read from monitoring's database every
CP_RULES_REFRESH_SECONDS (adapters/alert_conditions.py).

After every rebalance (a start included) the processor evaluates a sample only once its tables
are restored and its partitions positioned (``PositionedConsumer``): faust's fetcher can hand
the agent records fetched between the assignment and the pause of the stream partitions, and
after the restore faust "seeks to the committed offsets" through aiokafka, which does not seek a
partition without a committed offset. A processor killed before its first commit (one every
2.8 s) then went on past the records fetched early and dropped, and never evaluated them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP
from prometheus_client import Counter
from sqlalchemy.engine import Engine

from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.db import make_engine
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event, read_event
from cpshared.events.registry import UnreadableEvent
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.settings import load_settings
from cpshared.timestamps import to_timestamp
from cpshared.topics import ALERT_WINDOWS_CHANGELOG, MONITORING_EVENTS, MONITORING_METRICS
from monitoring_service import SERVICE_NAME
from monitoring_service.adapters.alert_conditions import RuleBook, load_rule_book
from monitoring_service.config import AlertProcessorSettings
from monitoring_service.domain.alert_evaluation import Condition, Transition, WindowState, observe
from monitoring_service.service_layer.collection import sample_of

log = get_logger(__name__)

APP_ID = "monitoring-alerts"
WINDOWS_TABLE = "alert_windows"
assert ALERT_WINDOWS_CHANGELOG.name == f"{APP_ID}-{WINDOWS_TABLE}-changelog"

SAMPLES_EVALUATED = Counter("monitoring_alert_samples_total", "metric.sampled records the alert processor evaluated")
TRANSITIONS = Counter("monitoring_alert_transitions_total", "Alert events published", ["kind"])
UNREADABLE = Counter("monitoring_alert_unreadable_total", "Records of monitoring.metrics the processor could not read")
DEFERRED = Counter(
    "monitoring_alert_deferred_total",
    "Samples delivered before the windows were restored and the partitions positioned (read again after)",
)


class PositionedConsumer(faust_kafka.Consumer):
    """faust's aiokafka consumer that knows when its stream partitions are positioned.

    From a rebalance's start until faust has restored the tables and sought the stream
    partitions, ``positioned`` is false: a record the agent gets then is not evaluated (the
    windows may not be restored yet) but noted with ``defer``, and the seek goes back to the
    earliest deferred offset of each partition, so it comes again. A partition that has no
    committed offset (or 0) is sought to its beginning, as ``consumer_auto_offset_reset`` says:
    aiokafka's ``seek_to_committed`` leaves such a partition where the early fetches left it.
    Nothing is committed while not positioned, so a deferred record is never committed unseen."""

    positioned: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: dict[TP, int] = {}

    def defer(self, tp: TP, offset: int) -> None:
        """A record of ``tp`` delivered while not positioned: read it again after the seek."""
        self._deferred[tp] = min(offset, self._deferred.get(tp, offset))

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        self.positioned = False
        await super().on_partitions_revoked(revoked)

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        if not self.positioned:
            return False
        return await super().commit(topics, start_new_transaction=start_new_transaction)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = dict(await super().seek_to_committed())
        unstarted: list[TP] = []
        for tp, offset in committed.items():
            if self._is_changelog_tp(tp):
                continue
            deferred = self._deferred.pop(tp, None)
            start = offset or 0
            if not offset:
                unstarted.append(tp)
            elif deferred is not None and deferred < offset:
                self._thread.seek(tp, deferred)
                start = committed[tp] = deferred
            # Every record from the new position on comes again: an ack of one of them (a
            # deferred record's) counts once it is evaluated.
            self._acked[tp] = [o for o in self._acked.get(tp, []) if o < start]
            self._acked_index[tp] = {o for o in self._acked_index.get(tp, set()) if o < start}
        if unstarted:
            await self._thread.seek_to_beginning(*unstarted)
        self._deferred.clear()
        self.positioned = True
        return committed


class PositionedTransport(faust_kafka.Transport):
    Consumer = PositionedConsumer


class AlertProcessorApp(faust.App):
    """The faust app on ``PositionedTransport``."""

    def _new_transport(self) -> faust_kafka.Transport:
        return PositionedTransport(self.conf.broker_consumer, self)


def window_key(rule_id: int, server_id: int) -> str:
    return f"{rule_id}:{server_id}"


KINDS = {"triggered": catalog.ALERT_TRIGGERED, "resolved": catalog.ALERT_RESOLVED}
VERSIONS = {"triggered": 1, "resolved": 2}
"""An alert's aggregate version names its step: triggered 1, resolved 2 (acknowledged 3)."""


def alert_event(condition: Condition, transition: Transition, causation_id: str) -> PendingEvent:
    """``alert.triggered`` or ``alert.resolved``: the alert after the transition, at the sample's time."""
    payload = monitoring_pb.AlertChanged(
        alert_id=transition.alert_id,
        alert_rule_id=condition.rule_id,
        user_id=condition.user_id,
        organization_id=condition.organization_id,
        rule_name=condition.name,
        resource_type=condition.resource_type,
        resource_id=transition.resource_id,
        metric=condition.metric,
        operator=condition.operator,
        threshold=str(condition.threshold),
        duration_minutes=condition.duration_minutes,
        status=transition.kind,
        value=str(transition.value),
        message=transition.message,
        triggered_at=to_timestamp(transition.triggered_at),
    )
    if transition.kind == "resolved":
        payload.resolved_at.CopyFrom(to_timestamp(transition.at))
    pending = new_event(
        KINDS[transition.kind],
        producer=SERVICE_NAME,
        aggregate_id=transition.alert_id,
        aggregate_version=VERSIONS[transition.kind],
        payload=payload,
        causation_id=causation_id,
        event_id=deterministic_event_id("alert", transition.alert_id, transition.kind),
    )
    # The sample's instant, not the processor's clock: a replay publishes the same envelope.
    pending.envelope.occurred_at.CopyFrom(to_timestamp(transition.at))
    return pending


def evaluate_sample(
    rules: RuleBook, windows: Any, payload: monitoring_pb.MetricSampled
) -> list[tuple[str, WindowState, Condition, Transition | None]]:
    """Every (window key, new state, transition) one sample makes; the caller sends the
    transitions first and then stores the states."""
    sample = sample_of(payload)
    row = sample.row()
    changes = []
    for condition in rules.conditions(sample.server_id):
        key = window_key(condition.rule_id, sample.server_id)
        state = WindowState.from_dict(windows.get(key))
        raw = row.get(condition.metric)
        value = Decimal(str(raw)) if raw is not None else None
        after, transition = observe(state, condition, sample.server_id, sample.recorded_at, value)
        if after != state:
            changes.append((key, after, condition, transition))
    return changes


def make_app(
    settings: AlertProcessorSettings,
    engine: Engine,
    *,
    app_id: str = APP_ID,
    source_topic: str = MONITORING_METRICS.name,
    sink_topic: str = MONITORING_EVENTS.name,
) -> faust.App:
    """The processor's faust app; ``app_id`` names its consumer group and its table's changelog
    (``<app_id>-alert_windows-changelog``)."""
    app = AlertProcessorApp(
        app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        # Every topic is the platform's to make (cloudctl topics --ensure): none is declared here.
        topic_allow_declare=False,
        topic_disable_leader=True,
        topic_partitions=MONITORING_METRICS.partitions,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
    )
    source = app.topic(source_topic, key_serializer="raw", value_serializer="raw")
    sink = app.topic(sink_topic, key_serializer="raw", value_serializer="raw")
    windows = app.Table(WINDOWS_TABLE, default=dict, partitions=ALERT_WINDOWS_CHANGELOG.partitions)
    loaded = asyncio.Event()
    book: dict[str, RuleBook] = {"rules": RuleBook()}

    async def refresh() -> None:
        try:
            book["rules"] = await asyncio.to_thread(load_rule_book, engine)
        except Exception as exc:
            log.warning("alert_rules_unreadable", error=str(exc)[:300])
            return
        loaded.set()

    @app.task  # type: ignore[untyped-decorator]
    async def first_rules() -> None:
        await refresh()

    @app.timer(interval=settings.rules_refresh_seconds)  # type: ignore[untyped-decorator]
    async def refresh_rules() -> None:
        await refresh()

    @app.agent(source)
    async def evaluate(stream: Any) -> None:
        consumer = cast(PositionedConsumer, app.consumer)
        async for event in stream.events():
            message = event.message
            if not consumer.positioned:
                DEFERRED.inc()
                consumer.defer(message.tp, message.offset)
                continue
            try:
                received = read_event(message.topic, message.partition, message.offset, event.value)
            except UnreadableEvent as exc:
                UNREADABLE.inc()
                log.warning("alert_record_unreadable", offset=message.offset, error=str(exc)[:200])
                continue
            if not isinstance(received.payload, monitoring_pb.MetricSampled):
                continue
            while not loaded.is_set():
                await refresh()
                if not loaded.is_set():
                    await asyncio.sleep(1.0)
            SAMPLES_EVALUATED.inc()
            for key, state, condition, transition in evaluate_sample(book["rules"], windows, received.payload):
                if transition is not None:
                    pending = alert_event(condition, transition, received.event_id)
                    await sink.send(
                        key=pending.key, value=pending.envelope.SerializeToString(), headers=pending.headers()
                    )
                    TRANSITIONS.labels(transition.kind).inc()
                    log.info(
                        "alert_" + transition.kind,
                        alert_id=transition.alert_id,
                        alert_rule_id=condition.rule_id,
                        resource_id=transition.resource_id,
                        at=transition.at.isoformat(),
                    )
                windows[key] = state.to_dict()

    return app


def run(app: faust.App, settings: AlertProcessorSettings, engine: Engine) -> None:
    """Run ``app`` until SIGTERM or SIGINT (faust's worker stops the agents and commits)."""
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), redirect_stdouts=False, override_logging=False)
    try:
        worker.execute_from_commandline()
    finally:
        engine.dispose()


def main() -> None:
    settings = load_settings(AlertProcessorSettings)
    start_process(SERVICE_NAME, settings)
    engine = make_engine(settings.database_url, pool_size=2)
    run(make_app(settings, engine), settings, engine)


if __name__ == "__main__":
    main()
