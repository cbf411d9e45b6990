"""alert_history as monitoring's projection of its alert events, applied by the real projection
runner (with its inbox) on a real monitoring database: triggered, a re-sent trigger changing
nothing, acknowledged (by whom, when), resolved (acknowledgement kept), and a deleted rule's
history gone with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.db import make_engine
from cpshared.events import catalog
from cpshared.events.envelope import PendingEvent, deterministic_event_id, new_event
from cpshared.events.projection import RawRecord
from cpshared.timestamps import to_timestamp
from monitoring_service.domain.alert_evaluation import alert_id
from tests.integration.monitoring.support import project

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
