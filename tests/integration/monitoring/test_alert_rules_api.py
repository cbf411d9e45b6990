"""Alert rules through the gateway: create, list, get, change and delete a tenant's rules in the
monitoring service; every bad field a 400 invalid_input naming it with nothing made; another
tenant's rule a 404; each change recorded as an alert_rule.* event in monitoring's outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from audit_service.entrypoints.projection import AuditProjection
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import make_engine
from cpshared.events.projection import ProjectionRunner
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, users
from tests.integration.audit_log.support import KEY
from tests.integration.live import LivePlatform, live_platform
from tests.integration.monitoring.support import outbox_records, project, trigger_alert
from tests.integration.monitoring.test_stored_metrics import _provision


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_ar_id") as identity_url,
        mariadb.scratch_database("cp_test_ar_gw") as gateway_url,
        mariadb.scratch_database("cp_test_ar_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


class Tenant:
    def __init__(self, platform: LivePlatform, email: str) -> None:
        user = users.create_user(
            commands.CreateUser(name="Rules", email=email, password="a long enough password", status=UserStatus.ACTIVE),
            platform.identity.uow(),
        )
        _, self.key = api_keys.create_api_key(
            commands.CreateApiKey(user_id=user.id, name="rules", scopes=("*:read", "*:write"), rate_limit=100_000),
            platform.identity.uow(),
        )
        self.base = platform.gateway

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )


def _server_of(platform: LivePlatform, tenant: Tenant, name: str) -> int:
    answer = tenant.call("POST", "/v1/servers", {"name": name, "server_type": "cx22", "image": "ubuntu-24.04"})
    assert answer.status_code == 201, answer.text
    _provision(platform)
    assert platform.monitoring is not None and platform.compute is not None
    project(platform.monitoring.engine, outbox_records(platform.compute.engine))
    return int(answer.json()["server"]["id"])


def _events(platform: LivePlatform, prefix: str) -> list[str]:
    assert platform.monitoring is not None
    with platform.monitoring.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(outbox.c.event_type).where(outbox.c.event_type.like(f"{prefix}%")).order_by(outbox.c.id)
            ).scalars()
        )


RULE = {
    "name": "cpu high",
    "resource_type": "server",
    "metric": "cpu_usage",
    "operator": "gt",
    "threshold": 80,
    "duration_minutes": 5,
    "notification_channels": [
        {"type": "email", "target": "ops@example.com"},
        {"type": "webhook", "target": "https://hooks.example.com/alerts"},
        {"type": "in_app"},
    ],
}


def test_a_tenants_alert_rule_is_made_listed_changed_and_deleted(platform: LivePlatform) -> None:
    ann = Tenant(platform, "ann-rules@example.com")
    server_id = _server_of(platform, ann, "ruled-1")
    made = ann.call("POST", "/v1/alert_rules", RULE | {"resource_id": server_id})
    assert made.status_code == 201, made.text
    rule = made.json()["alert_rule"]
    assert {k: rule[k] for k in ("name", "resource_type", "resource_id", "metric", "operator", "threshold")} == {
        "name": "cpu high",
        "resource_type": "server",
        "resource_id": server_id,
        "metric": "cpu_usage",
        "operator": "gt",
        "threshold": 80.0,
    }
    assert rule["enabled"] is True and rule["duration_minutes"] == 5
    assert rule["notification_channels"] == [
        {"type": "email", "target": "ops@example.com"},
        {"type": "webhook", "target": "https://hooks.example.com/alerts"},
        {"type": "in_app", "target": None},
    ]
    every = ann.call("POST", "/v1/alert_rules", RULE | {"name": "all disks", "metric": "disk_read_iops"})
    assert every.status_code == 201 and every.json()["alert_rule"]["resource_id"] is None

    listed = ann.call("GET", "/v1/alert_rules?sort=name:asc").json()
    assert [r["name"] for r in listed["alert_rules"]] == ["all disks", "cpu high"]
    assert listed["meta"]["pagination"]["total_entries"] == 2
    assert ann.call("GET", "/v1/alert_rules?resource_type=volume").json()["alert_rules"] == []

    changed = ann.call(
        "PUT",
        f"/v1/alert_rules/{rule['id']}",
        {"threshold": "95.5", "enabled": False, "notification_channels": [{"type": "in_app"}]},
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()["alert_rule"]
    assert (after["threshold"], after["enabled"], after["name"]) == (95.5, False, "cpu high")
    assert after["notification_channels"] == [{"type": "in_app", "target": None}]
    assert ann.call("GET", f"/v1/alert_rules/{rule['id']}").json()["alert_rule"] == after

    assert ann.call("DELETE", f"/v1/alert_rules/{rule['id']}").status_code == 204
    gone = ann.call("GET", f"/v1/alert_rules/{rule['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert _events(platform, "alert_rule.") == [
        "alert_rule.created",
        "alert_rule.created",
        "alert_rule.updated",
        "alert_rule.deleted",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metric": "temperature"}, "metric"),
        ({"metric": "open_connections"}, "metric"),  # a load balancer's, not a server's
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 100_000}, "duration_minutes"),
        ({"duration_minutes": 2**40}, "duration_minutes"),
        ({"operator": "ne"}, "operator"),
        ({"threshold": "abc"}, "threshold"),
        ({"threshold": 80.123}, "threshold"),
        ({"threshold": 1e12}, "threshold"),
        ({"resource_type": "disk"}, "resource_type"),
        ({"name": ""}, "name"),
        (
            {"notification_channels": [{"type": "webhook", "target": "ftp://hooks.example.com/x"}]},
            "notification_channels",
        ),
        ({"notification_channels": [{"type": "webhook", "target": "javascript:alert(1)"}]}, "notification_channels"),
        ({"notification_channels": [{"type": "email", "target": "not an address"}]}, "notification_channels"),
        ({"notification_channels": [{"type": "sms", "target": "+4912345"}]}, "notification_channels"),
        ({"notification_channels": [{"type": "in_app"}] * 2}, "notification_channels"),
        ({"resource_id": 99_999_999}, "resource_id"),
    ],
)
def test_bad_input_is_invalid_input_naming_the_field_and_makes_nothing(
    platform: LivePlatform, change: dict[str, Any], field: str
) -> None:
    bob = Tenant(platform, f"bob-{field}-{abs(hash(str(change)))}@example.com")
    answer = bob.call("POST", "/v1/alert_rules", RULE | change)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in answer.text
    assert bob.call("GET", "/v1/alert_rules").json()["alert_rules"] == []


def test_another_tenants_rule_and_server_are_out_of_reach(platform: LivePlatform) -> None:
    owner = Tenant(platform, "owner-rules@example.com")
    stranger = Tenant(platform, "stranger-rules@example.com")
    server_id = _server_of(platform, owner, "owned-1")
    rule = owner.call("POST", "/v1/alert_rules", RULE | {"resource_id": server_id}).json()["alert_rule"]
    for method, body in (("GET", None), ("PUT", {"threshold": 1}), ("DELETE", None)):
        answer = stranger.call(method, f"/v1/alert_rules/{rule['id']}", body)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert stranger.call("GET", "/v1/alert_rules").json()["alert_rules"] == []
    # A rule about another tenant's server is refused as if the server did not exist.
    refused = stranger.call("POST", "/v1/alert_rules", RULE | {"resource_id": server_id})
    assert refused.status_code == 400 and "resource_id" in refused.text
    bad_change = owner.call("PUT", f"/v1/alert_rules/{rule['id']}", {"duration_minutes": 0})
    assert bad_change.status_code == 400
    assert owner.call("GET", f"/v1/alert_rules/{rule['id']}").json()["alert_rule"]["duration_minutes"] == 5


def test_the_audit_log_records_alert_rule_changes_and_never_a_sample(platform: LivePlatform, paths: LocalPaths) -> None:
    ann = Tenant(platform, "audited-rules@example.com")
    rule = ann.call("POST", "/v1/alert_rules", RULE | {"name": "audited"}).json()["alert_rule"]
    assert ann.call("PUT", f"/v1/alert_rules/{rule['id']}", {"enabled": False}).status_code == 200
    assert platform.monitoring is not None
    records = [r for r in outbox_records(platform.monitoring.engine) if r.topic == "monitoring.events"]
    with MariaDB(paths.root).scratch_database("cp_test_ar_au") as audit_url:
        upgrade("audit", migrations_dir("audit"), audit_url)
        engine = make_engine(audit_url, pool_size=2)
        try:
            result = ProjectionRunner(engine, AuditProjection(KEY)).apply_batch(records)
            assert result.dead_lettered == 0 and result.applied == len(records)
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT action, resource_type, resource_id FROM audit_logs ORDER BY id")
                ).all()
        finally:
            engine.dispose()
    assert ("alert_rule.created", "alert_rule", str(rule["id"])) in [tuple(map(str, r)) for r in rows]
    assert ("alert_rule.updated", "alert_rule", str(rule["id"])) in [tuple(map(str, r)) for r in rows]
    # Samples travel on monitoring.metrics, which audit does not follow.
    assert "monitoring.metrics" not in {t.name for t in AuditProjection.topics}


def test_a_tenants_alerts_are_listed_read_and_acknowledged_and_audited(
    platform: LivePlatform, paths: LocalPaths
) -> None:
    assert platform.monitoring is not None
    ann = Tenant(platform, "alerted@example.com")
    stranger = Tenant(platform, "not-alerted@example.com")
    rule = ann.call("POST", "/v1/alert_rules", RULE | {"name": "alerting"}).json()["alert_rule"]
    with platform.monitoring.engine.connect() as conn:  # the key's user, for acknowledged_by
        user_id = int(
            conn.execute(sa.text("SELECT user_id FROM alert_rules WHERE id = :id"), {"id": rule["id"]}).scalar_one()
        )
    at = datetime(2026, 5, 4, 8, 4, tzinfo=UTC)
    alert = trigger_alert(platform.monitoring.engine, rule["id"], user_id, 4711, at)

    listed = ann.call("GET", "/v1/alerts").json()
    assert [(a["id"], a["status"], a["resource_id"], a["value"]) for a in listed["alerts"]] == [
        (alert, "triggered", 4711, 95.0)
    ]
    assert listed["meta"]["pagination"]["total_entries"] == 1
    assert ann.call("GET", "/v1/alerts?status=resolved").json()["alerts"] == []
    assert ann.call("GET", f"/v1/alerts?alert_rule_id={rule['id']}").json()["alerts"][0]["id"] == alert
    got = ann.call("GET", f"/v1/alerts/{alert}").json()["alert"]
    assert got["rule_name"] == "alerting" and got["triggered"].startswith("2026-05-04T08:04:00")
    assert got["acknowledged"] is None and got["resolved"] is None

    # Another tenant: nothing listed, the alert does not exist for it, and nothing changes.
    assert stranger.call("GET", "/v1/alerts").json()["alerts"] == []
    for method, path in (("GET", f"/v1/alerts/{alert}"), ("POST", f"/v1/alerts/{alert}/actions/acknowledge")):
        answer = stranger.call(method, path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    # Bad input: a 4xx in Hetzner's format, never a 5xx.
    for path in ("/v1/alerts?status=firing", "/v1/alerts?alert_rule_id=0", "/v1/alerts/0", "/v1/alerts/x"):
        answer = ann.call("GET", path)
        assert 400 <= answer.status_code < 500 and "error" in answer.json(), (path, answer.text)
    assert ann.call("POST", "/v1/alerts/99999999/actions/acknowledge").status_code == 404
    assert ann.call("GET", f"/v1/alerts/{alert}").json()["alert"]["acknowledged"] is None

    acked = ann.call("POST", f"/v1/alerts/{alert}/actions/acknowledge")
    assert acked.status_code == 200, acked.text
    body = acked.json()["alert"]
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == user_id and body["acknowledged"]
    again = ann.call("POST", f"/v1/alerts/{alert}/actions/acknowledge").json()["alert"]
    assert again == body
    assert _events(platform, "alert.") == ["alert.acknowledged"]

    records = [r for r in outbox_records(platform.monitoring.engine) if r.topic == "monitoring.events"]
    with MariaDB(paths.root).scratch_database("cp_test_ar_au2") as audit_url:
        upgrade("audit", migrations_dir("audit"), audit_url)
        engine = make_engine(audit_url, pool_size=2)
        try:
            result = ProjectionRunner(engine, AuditProjection(KEY)).apply_batch(records)
            assert result.dead_lettered == 0
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT action, resource_type, resource_id FROM audit_logs")).all()
        finally:
            engine.dispose()
    assert ("alert.acknowledged", "alert", str(alert)) in [tuple(map(str, r)) for r in rows]
