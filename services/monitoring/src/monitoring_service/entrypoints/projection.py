"""Monitoring's consumer: which servers exist and run (from compute.events), the samples of
monitoring.metrics written to server_metrics in bulk, and the alert history from monitoring's
own alert events (monitoring.events: alert.triggered / resolved from the alert processor,
alert.acknowledged; a deleted rule's history goes with it).

Run by the generic consumer as the process ``monitoring-consumer`` (consumer group
"monitoring"): ``python -m cpshared.events.consumer_main
monitoring_service.entrypoints.projection:MonitoringProjection``. Each batch is one transaction
with its inbox rows (cpshared.events.projection): a redelivered sample finds its inbox row and
is skipped; the samples of a batch go in as ONE multi-row INSERT, and the unique key (server,
instant) keeps a sample that reaches the table twice (a replay, a second collector) once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import COMPUTE_EVENTS, MONITORING_EVENTS, MONITORING_METRICS, Topic
from monitoring_service.adapters.tables import alert_history, monitored_servers, server_metrics
from monitoring_service.service_layer.collection import sample_of

SAMPLES = "samples"


def _occurred(event: ReceivedEvent) -> Any:
    return event.envelope.occurred_at.ToDatetime()


class MonitoringProjection(Projection):
    name = "monitoring"
    topics: ClassVar[tuple[Topic, ...]] = (COMPUTE_EVENTS, MONITORING_METRICS, MONITORING_EVENTS)
    tables: ClassVar[tuple[sa.Table, ...]] = (monitored_servers, server_metrics, alert_history)
    volatile_columns: ClassVar[dict[str, tuple[str, ...]]] = {"server_metrics": ("id",)}

    def _upsert(self, ctx: ApplyContext, row: dict[str, Any], update: tuple[str, ...]) -> None:
        statement = mysql.insert(ctx.table(monitored_servers.name)).values(row)
        ctx.execute(statement.on_duplicate_key_update({name: statement.inserted[name] for name in update}))

    @handles("server.created")
    def created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, compute_pb.ServerCreated)
        row = {
            "server_id": p.server_id,
            "user_id": p.user_id,
            "organization_id": p.organization_id or None,
            "upstream_id": None,
            "status": p.status,
            "deleted_at": None,
            "updated_at": _occurred(event),
        }
        self._upsert(ctx, row, ("user_id", "organization_id", "updated_at"))

    @handles("server.status_changed")
    def status_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, compute_pb.ServerStatusChanged)
        row = {
            "server_id": p.server_id,
            "user_id": p.user_id,
            "organization_id": p.organization_id or None,
            "upstream_id": p.upstream_id or None,
            "status": p.status,
            "deleted_at": None,
            "updated_at": _occurred(event),
        }
        update = ("status", "updated_at", "upstream_id") if p.upstream_id else ("status", "updated_at")
        self._upsert(ctx, row, update)

    @handles("server.deleted")
    def deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, compute_pb.ServerDeleted)
        row = {
            "server_id": p.server_id,
            "user_id": p.user_id,
            "organization_id": p.organization_id or None,
            "upstream_id": None,
            "status": "deleted",
            "deleted_at": _occurred(event),
            "updated_at": _occurred(event),
        }
        self._upsert(ctx, row, ("status", "deleted_at", "updated_at"))

    @handles("metric.sampled")
    def sampled(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, monitoring_pb.MetricSampled)
        ctx.state.setdefault(SAMPLES, []).append(sample_of(p).row())

    def before_commit(self, ctx: ApplyContext) -> None:
        rows = ctx.state.pop(SAMPLES, [])
        if not rows:
            return
        statement = mysql.insert(ctx.table(server_metrics.name)).values(rows)
        # The unique key (server_id, recorded_at): a sample stored already stays as it is.
        ctx.execute(statement.on_duplicate_key_update(server_id=statement.inserted.server_id))

    def _alert(self, ctx: ApplyContext, event: ReceivedEvent, update: dict[str, Any]) -> None:
        """The alert's row as the event's payload has it; if it exists, only what ``update`` says."""
        p = event.payload
        assert isinstance(p, monitoring_pb.AlertChanged)
        row = {
            "id": p.alert_id,
            "alert_rule_id": p.alert_rule_id,
            "resource_type": p.resource_type,
            "resource_id": p.resource_id or None,
            "status": p.status,
            "value": p.value or None,
            "message": p.message,
            "triggered_at": p.triggered_at.ToDatetime(),
            "resolved_at": p.resolved_at.ToDatetime() if p.HasField("resolved_at") else None,
            "acknowledged_at": p.acknowledged_at.ToDatetime() if p.HasField("acknowledged_at") else None,
            "acknowledged_by": p.acknowledged_by or None,
        }
        statement = mysql.insert(ctx.table(alert_history.name)).values(row)
        ctx.execute(statement.on_duplicate_key_update(update or {"id": statement.inserted.id}))

    @handles("alert.triggered")
    def alert_triggered(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        # Triggered again (a re-sent or replayed event): the row stays as it is.
        self._alert(ctx, event, {})

    @handles("alert.resolved")
    def alert_resolved(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        # Resolved wins over acknowledged (acknowledged_at is kept).
        p = event.payload
        assert isinstance(p, monitoring_pb.AlertChanged)
        self._alert(ctx, event, {"status": "resolved", "resolved_at": p.resolved_at.ToDatetime()})

    @handles("alert.acknowledged")
    def alert_acknowledged(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        # An alert resolved already stays resolved; a firing one becomes acknowledged.
        table = ctx.table(alert_history.name)
        p = event.payload
        assert isinstance(p, monitoring_pb.AlertChanged)
        self._alert(
            ctx,
            event,
            {
                "status": sa.case((table.c.status == "triggered", "acknowledged"), else_=table.c.status),
                "acknowledged_at": p.acknowledged_at.ToDatetime(),
                "acknowledged_by": p.acknowledged_by or None,
            },
        )

    @handles("alert_rule.deleted")
    def rule_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, monitoring_pb.AlertRuleChanged)
        table = ctx.table(alert_history.name)
        ctx.execute(sa.delete(table).where(table.c.alert_rule_id == p.alert_rule_id))
