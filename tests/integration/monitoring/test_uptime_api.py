"""Uptime monitors through the gateway: a tenant's monitor made, listed, changed and deleted;
every bad field a 400 invalid_input naming it with nothing made; another tenant's monitor a 404;
the checker (real, against an HTTP server on loopback that the test stops and starts) going
down and up, its results and uptime on the API, and the audit log recording every event."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from audit_service.entrypoints.projection import AuditProjection
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import make_engine
from cpshared.events.projection import ProjectionRunner
from cpshared.migrations import migrations_dir, upgrade
from monitoring_service.service_layer import uptime
from tests.integration.audit_log.support import KEY
from tests.integration.live import LivePlatform, live_platform
from tests.integration.monitoring.support import outbox_records
from tests.integration.monitoring.test_alert_rules_api import Tenant

MONITOR = {
    "name": "shop",
    "type": "http",
    "target": "127.0.0.1",
    "interval_seconds": 30,
    "timeout_seconds": 2,
    "notification_channels": [{"type": "webhook", "target": "https://hooks.example.com/up"}],
}


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_up_id") as identity_url,
        mariadb.scratch_database("cp_test_up_gw") as gateway_url,
        mariadb.scratch_database("cp_test_up_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(port: int) -> http.server.ThreadingHTTPServer:
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd


def _stop(httpd: http.server.ThreadingHTTPServer) -> None:
    httpd.shutdown()
    httpd.server_close()


def _count(platform: LivePlatform) -> int:
    assert platform.monitoring is not None
    with platform.monitoring.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM uptime_monitors")).scalar_one())


def test_a_monitor_is_made_checked_down_and_up_and_audited(platform: LivePlatform, paths: LocalPaths) -> None:
    assert platform.monitoring is not None
    ann = Tenant(platform, "uptime@example.com")
    httpd = _serve(0)
    port = httpd.server_address[1]
    made = ann.call("POST", "/v1/uptime_monitors", MONITOR | {"port": port})
    assert made.status_code == 201, made.text
    monitor = made.json()["uptime_monitor"]
    assert (monitor["status"], monitor["regions"], monitor["port"], monitor["enabled"]) == (
        "unknown",
        ["local"],
        port,
        True,
    )
    assert [m["id"] for m in ann.call("GET", "/v1/uptime_monitors").json()["uptime_monitors"]] == [monitor["id"]]

    checker = platform.monitoring.uptime_checker("local")

    def check() -> None:
        # The monitor is due at once after each change below: its next check moved to now.
        assert ann.call("PUT", f"/v1/uptime_monitors/{monitor['id']}", {"enabled": True}).status_code == 200
        assert uptime.check_due(checker, 2, platform.monitoring.uow()).checked == 1  # type: ignore[union-attr]

    check()
    _stop(httpd)
    check()
    check()
    down = ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}").json()["uptime_monitor"]
    assert (down["status"], down["consecutive_failures"]) == ("down", 2) and down["down_since"]
    httpd = _serve(port)
    try:
        check()
    finally:
        _stop(httpd)
    up = ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}").json()["uptime_monitor"]
    assert (up["status"], up["consecutive_failures"], up["down_since"]) == ("up", 0, None)
    results = ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}/results").json()["results"]
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[0]["status_code"] == 204 and results[0]["latency_ms"] is not None and results[1]["error"]
    assert len(ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}/results?limit=1").json()["results"]) == 1
    answer = ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}/uptime").json()["uptime"]
    assert answer == {window: {"percent": 50.0, "checks": 4} for window in ("24h", "7d", "30d")}

    assert ann.call("DELETE", f"/v1/uptime_monitors/{monitor['id']}").status_code == 204
    assert ann.call("GET", f"/v1/uptime_monitors/{monitor['id']}").status_code == 404

    records = [r for r in outbox_records(platform.monitoring.engine) if r.topic == "monitoring.events"]
    with MariaDB(paths.root).scratch_database("cp_test_up_au") as audit_url:
        upgrade("audit", migrations_dir("audit"), audit_url)
        engine = make_engine(audit_url, pool_size=2)
        try:
            result = ProjectionRunner(engine, AuditProjection(KEY)).apply_batch(records)
            assert result.dead_lettered == 0 and result.applied == len(records)
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT action FROM audit_logs WHERE resource_type = 'uptime_monitor' AND resource_id = :id"
                    ),
                    {"id": str(monitor["id"])},
                ).scalars()
                actions = list(rows)
        finally:
            engine.dispose()
    for action in ("uptime_monitor.created", "uptime_monitor.down", "uptime_monitor.up", "uptime_monitor.deleted"):
        assert action in actions


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "https://example.com/path"}, "target"),
        ({"target": "not a host"}, "target"),
        ({"interval_seconds": 29}, "interval_seconds"),
        ({"interval_seconds": -5}, "interval_seconds"),
        ({"timeout_seconds": 31}, "timeout_seconds"),
        ({"port": 0}, "port"),
        ({"port": 65_536}, "port"),
        ({"regions": ["fsn1"]}, "regions"),
        ({"notification_channels": [{"type": "webhook", "target": "ftp://example.com"}]}, "notification_channels[0]"),
        ({"notification_channels": [{"type": "webhook", "target": "not a url"}]}, "notification_channels[0]"),
        ({"type": "smtp"}, "type"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_invalid_input_naming_the_field_and_makes_nothing(
    platform: LivePlatform, change: dict[str, Any], field: str
) -> None:
    ann = Tenant(platform, f"bad-uptime-{field}-{abs(hash(str(change)))}@example.com")
    before = _count(platform)
    answer = ann.call("POST", "/v1/uptime_monitors", MONITOR | {"port": 8080} | change)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["message"] or field in answer.text
    assert _count(platform) == before
    made = ann.call("POST", "/v1/uptime_monitors", MONITOR | {"port": 8080}).json()["uptime_monitor"]
    if field not in ("type",):
        changed = ann.call("PUT", f"/v1/uptime_monitors/{made['id']}", change)
        assert changed.status_code == 400, changed.text
        assert ann.call("GET", f"/v1/uptime_monitors/{made['id']}").json()["uptime_monitor"] == made


def test_another_tenants_monitor_is_out_of_reach(platform: LivePlatform) -> None:
    ann, bob = Tenant(platform, "ann-uptime@example.com"), Tenant(platform, "bob-uptime@example.com")
    made = ann.call("POST", "/v1/uptime_monitors", MONITOR | {"type": "ping"}).json()["uptime_monitor"]
    assert made["port"] is None
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"name": "mine"}),
        ("DELETE", "", None),
        ("GET", "/results", None),
        ("GET", "/uptime", None),
    ):
        answer = bob.call(method, f"/v1/uptime_monitors/{made['id']}{suffix}", body)
        assert answer.status_code == 404, (method, suffix, answer.text)
    assert bob.call("GET", "/v1/uptime_monitors").json()["uptime_monitors"] == []
    assert ann.call("GET", f"/v1/uptime_monitors/{made['id']}").json()["uptime_monitor"]["name"] == "shop"
