"""alert_history as monitoring's projection of its alert events, applied by the real projection
runner (with its inbox) on a real monitoring database: triggered, a re-sent trigger changing
nothing, acknowledged (by whom, when), resolved (acknowledgement kept), and a deleted rule's
history gone with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.monitoring.v1 import alert_service_pb2 as alert_pb
from cloudplatform.monitoring.v1 import alert_service_pb2_grpc as alert_grpc
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.auth.principal import TrustedKeys, generate_private_key, sign, user_principal
from cpshared.db import make_engine
from cpshared.errors import InvalidInput, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event, read_event
from cpshared.events.projection import RawRecord
from cpshared.timestamps import to_timestamp
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import RetentionSettings
from monitoring_service.domain.alert_evaluation import alert_id
from monitoring_service.entrypoints.grpc_server import add_servicers as add_monitoring_servicers
from monitoring_service.service_layer import alerts
from tests.integration.live import grpc_in_thread
from tests.integration.monitoring.support import outbox_records, project

TRIGGERED_AT = datetime(2026, 5, 4, 8, 4, tzinfo=UTC)
ALERT = alert_id(3, 41, TRIGGERED_AT)


@pytest.fixture
def engine(paths: LocalPaths) -> Iterator[sa.Engine]:
    with MariaDB(paths.root).scratch_database("cp_test_mo_history") as url:
        from cpshared.migrations import migrations_dir, upgrade

        upgrade("monitoring", migrations_dir("monitoring"), url)
        engine = make_engine(url, pool_size=1)
        try:
            yield engine
        finally:
            engine.dispose()


def _event(kind: str, **fields: object) -> PendingEvent:
    spec = {"triggered": catalog.ALERT_TRIGGERED, "resolved": catalog.ALERT_RESOLVED}.get(
        kind, catalog.ALERT_ACKNOWLEDGED
    )
    payload = monitoring_pb.AlertChanged(
        alert_id=ALERT,
        alert_rule_id=3,
        user_id=7,
        rule_name="cpu high",
        resource_type="server",
        resource_id=41,
        metric="cpu_usage",
        operator="gt",
        threshold="80.00",
        duration_minutes=5,
        status=kind,
        value="95.00",
        message="triggered: cpu_usage > 80.00 for 5 min (now 95.00)",
        triggered_at=to_timestamp(TRIGGERED_AT),
        **fields,  # type: ignore[arg-type]
    )
    return new_event(
        spec,
        producer="monitoring",
        aggregate_id=ALERT,
        aggregate_version=1,
        payload=payload,
        event_id=deterministic_event_id("alert", ALERT, kind),
    )


def _records(*events: PendingEvent, offset: int) -> list[RawRecord]:
    return [
        RawRecord(e.topic.name, 0, offset + n, e.key, e.envelope.SerializeToString(), tuple(e.headers()))
        for n, e in enumerate(events)
    ]


def _history(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT id, alert_rule_id, resource_type, resource_id, status, value, message, triggered_at, "
                    "resolved_at, acknowledged_at, acknowledged_by FROM alert_history ORDER BY id"
                )
            )
        ]


def test_alert_events_make_the_history_once_and_a_deleted_rule_takes_it_along(engine: sa.Engine) -> None:
    at = TRIGGERED_AT.replace(tzinfo=None)
    project(engine, _records(_event("triggered"), offset=1))
    [row] = _history(engine)
    assert row[:5] == (ALERT, 3, "server", 41, "triggered") and str(row[5]) == "95.00"
    assert str(row[6]).startswith("triggered: cpu_usage > 80.00") and row[7:] == (at, None, None, None)

    # The same trigger again (re-sent: another offset, the same event id): nothing changes.
    project(engine, _records(_event("triggered"), offset=2))
    assert _history(engine) == [row]

    acked = datetime(2026, 5, 4, 8, 6, tzinfo=UTC)
    project(engine, _records(_event("acknowledged", acknowledged_at=to_timestamp(acked), acknowledged_by=7), offset=3))
    [row] = _history(engine)
    assert row[4] == "acknowledged" and row[9:] == (acked.replace(tzinfo=None), 7)

    resolved = datetime(2026, 5, 4, 8, 9, tzinfo=UTC)
    project(engine, _records(_event("resolved", resolved_at=to_timestamp(resolved)), offset=4))
    [row] = _history(engine)
    assert row[4] == "resolved" and row[8:] == (resolved.replace(tzinfo=None), acked.replace(tzinfo=None), 7)

    deleted = new_event(
        catalog.ALERT_RULE_DELETED,
        producer="monitoring",
        aggregate_id=3,
        aggregate_version=2,
        payload=monitoring_pb.AlertRuleChanged(alert_rule_id=3, user_id=7, resource_type="server"),
    )
    project(engine, _records(deleted, offset=5))
    assert _history(engine) == []


def _rule(engine: sa.Engine, user_id: int = 7) -> None:
    now = datetime(2026, 5, 4, 7, 0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO alert_rules (id, user_id, name, resource_type, resource_id, metric, operator, threshold, "
                "duration_minutes, enabled, notification_channels, created_at, updated_at, version) "
                "VALUES (3, :u, 'cpu high', 'server', 41, 'cpu_usage', 'gt', 80, 5, 1, '[]', :now, :now, 1)"
            ),
            {"u": user_id, "now": now},
        )


def _reach(user_id: int) -> Callable[[int, int | None], None]:
    def reach(owner: int, organization_id: int | None) -> None:
        if owner != user_id or organization_id is not None:
            raise NotFound("not yours")

    return reach


def test_an_alert_is_listed_read_and_acknowledged_once_with_its_event(engine: sa.Engine) -> None:
    _rule(engine)
    project(engine, _records(_event("triggered"), offset=1))
    monitoring = Monitoring(engine)
    [listed] = alerts.list_alerts(7, None, "", 0, monitoring.uow())
    assert (listed.id, listed.status, listed.rule_name, listed.resource_id) == (ALERT, "triggered", "cpu high", 41)
    assert alerts.list_alerts(7, None, "resolved", 0, monitoring.uow()) == []
    assert alerts.list_alerts(8, None, "", 0, monitoring.uow()) == []
    with pytest.raises(InvalidInput):
        alerts.list_alerts(7, None, "firing", 0, monitoring.uow())
    with pytest.raises(NotFound):
        alerts.get(ALERT, _reach(8), monitoring.uow())
    with pytest.raises(NotFound):
        alerts.acknowledge(ALERT, 8, _reach(8), monitoring.uow())
    with pytest.raises(NotFound):
        alerts.get(ALERT + 1, _reach(7), monitoring.uow())

    acked = alerts.acknowledge(ALERT, 7, _reach(7), monitoring.uow())
    assert acked.status == "acknowledged" and acked.acknowledged_by == 7 and acked.acknowledged_at is not None
    again = alerts.acknowledge(ALERT, 7, _reach(7), monitoring.uow())
    assert again == alerts.get(ALERT, _reach(7), monitoring.uow())
    assert again.acknowledged_at == acked.acknowledged_at
    [event] = outbox_records(engine)
    assert event.topic == "monitoring.events"
    received = read_event(event.topic, 0, 0, event.value or b"")
    assert received.event_type == "alert.acknowledged"
    payload = received.payload
    assert isinstance(payload, monitoring_pb.AlertChanged)
    assert (payload.alert_id, payload.user_id, payload.acknowledged_by, payload.status) == (ALERT, 7, 7, "acknowledged")
    before = _history(engine)
    # The consumer applies the acknowledgement later: the row is as the service wrote it.
    project(engine, [event])
    assert _history(engine) == before
    project(
        engine, _records(_event("resolved", resolved_at=to_timestamp(datetime(2026, 5, 4, 8, 9, tzinfo=UTC))), offset=9)
    )
    assert alerts.get(ALERT, _reach(7), monitoring.uow()).status == "resolved"


def test_the_alert_service_answers_the_tenant_only_and_acknowledges_as_the_caller(engine: sa.Engine) -> None:
    _rule(engine)
    project(engine, _records(_event("triggered"), offset=1))
    signing = generate_private_key()
    monitoring = Monitoring(engine)
    register = lambda server: add_monitoring_servicers(server, monitoring, RetentionSettings())  # noqa: E731

    def as_(user_id: int, role: str = "client") -> tuple[tuple[str, str | bytes], ...]:
        return (("x-principal", sign(user_principal(user_id=user_id, role=role, organizations={}), signing)),)

    with grpc_in_thread("monitoring", register, TrustedKeys(issuer=signing.public_key())) as address:
        stub = alert_grpc.AlertServiceStub(grpc.insecure_channel(address))
        listed = stub.ListAlerts(alert_pb.ListAlertsRequest(user_id=7), metadata=as_(7)).alerts
        assert [(a.id, a.status, a.resource_id, a.value) for a in listed] == [(ALERT, "triggered", 41, "95.00")]
        assert list(stub.ListAlerts(alert_pb.ListAlertsRequest(user_id=8), metadata=as_(8)).alerts) == []
        for call in (
            lambda: stub.GetAlert(alert_pb.GetAlertRequest(alert_id=ALERT), metadata=as_(8)),
            lambda: stub.AcknowledgeAlert(alert_pb.AcknowledgeAlertRequest(alert_id=ALERT, user_id=8), metadata=as_(8)),
        ):
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as raised:
            stub.AcknowledgeAlert(alert_pb.AcknowledgeAlertRequest(alert_id=ALERT, user_id=7), metadata=as_(8))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListAlerts(alert_pb.ListAlertsRequest(user_id=7, status="firing"), metadata=as_(7))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        acked = stub.AcknowledgeAlert(
            alert_pb.AcknowledgeAlertRequest(alert_id=ALERT, user_id=7), metadata=as_(7)
        ).alert
        assert (acked.status, acked.acknowledged_by) == ("acknowledged", 7) and acked.HasField("acknowledged_at")
        got = stub.GetAlert(alert_pb.GetAlertRequest(alert_id=ALERT), metadata=as_(1, "admin")).alert
        assert got == acked
    recorded = [read_event(r.topic, 0, 0, r.value or b"").event_type for r in outbox_records(engine)]
    assert recorded == ["alert.acknowledged"]
