"""Uptime monitors on a real monitoring database, checked by the real checker against servers
this test starts on loopback: an HTTP server stopped for three intervals and started again (one
``uptime_monitor.down``, one ``uptime_monitor.up``, the uptime percentage equal to the
reference), a TCP listener, an https server with its own certificate (the expiry reported), a
ping of 127.0.0.1; and bad input refused with nothing changed. The clock is a ManualClock: a
check is due when the clock says so, the network is real."""

from __future__ import annotations

import dataclasses
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.errors import InvalidInput, NotFound
from cpshared.events.envelope import read_event
from cpshared.migrations import migrations_dir, upgrade
from monitoring_service.bootstrap import Monitoring
from monitoring_service.service_layer import uptime
from tests.integration.monitoring.support import outbox_records

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
REGIONS = ("local",)


@pytest.fixture
def monitoring(paths: LocalPaths) -> Iterator[Monitoring]:
    with MariaDB(paths.root).scratch_database("cp_test_mo_uptime") as url:
        upgrade("monitoring", migrations_dir("monitoring"), url)
        m = Monitoring(make_engine(url, pool_size=2))
        try:
            yield m
        finally:
            m.close()


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(T0)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server:
    """An HTTP(S) server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = port
        self.httpd: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Ok)
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        assert self.httpd is not None
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd = None


def _new(type_: str, target: str, port: int | None = None, **kw: object) -> uptime.NewUptimeMonitor:
    values: dict[str, object] = {
        "user_id": 7,
        "organization_id": None,
        "name": f"{type_} {target}",
        "type": type_,
        "target": target,
        "port": port,
        "interval_seconds": 30,
        "timeout_seconds": 2,
        "regions": [],
        "enabled": None,
        "channels": [("email", "ops@example.com")],
    } | kw
    return uptime.NewUptimeMonitor(**values)  # type: ignore[arg-type]


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def _status_events(monitoring: Monitoring) -> list[tuple[str, monitoring_pb.UptimeMonitorStatusChanged]]:
    out = []
    for r in outbox_records(monitoring.engine):
        assert r.value is not None
        event = read_event(r.topic, 0, r.offset, r.value)
        if event.event_type in ("uptime_monitor.down", "uptime_monitor.up"):
            assert isinstance(event.payload, monitoring_pb.UptimeMonitorStatusChanged)
            out.append((event.event_type, event.payload))
    return out


def test_an_http_monitor_goes_down_after_three_failures_and_up_again(
    monitoring: Monitoring, clock: ManualClock
) -> None:
    server = _Server()
    server.start()
    monitor = uptime.create(_new("http", "127.0.0.1", server.port), REGIONS, monitoring.uow())
    checker = monitoring.uptime_checker("local")
    outcomes = []

    def step() -> uptime.CheckPass:
        report = uptime.check_due(checker, 3, monitoring.uow())
        clock.advance(timedelta(seconds=30))
        return report

    # Two checks up, the server stopped for three intervals, then started again for two.
    for _ in range(2):
        assert step().checked == 1
        outcomes.append(True)
    assert uptime.get(monitor.id, _anyone, monitoring.uow()).status == "up"
    server.stop()
    for n in range(3):
        report = step()
        outcomes.append(False)
        assert (report.checked, report.down) == (1, 1 if n == 2 else 0)
    down = uptime.get(monitor.id, _anyone, monitoring.uow())
    assert (down.status, down.consecutive_failures, down.down_since) == ("down", 3, T0 + timedelta(seconds=60))
    # Not due yet: nothing is checked between two intervals.
    clock.advance(timedelta(seconds=-29))
    assert uptime.check_due(checker, 3, monitoring.uow()).checked == 0
    clock.advance(timedelta(seconds=29))
    server.start()
    for n in range(2):
        report = step()
        outcomes.append(True)
        assert (report.checked, report.up) == (1, 1 if n == 0 else 0)

    events = _status_events(monitoring)
    assert [(kind, p.status, p.consecutive_failures) for kind, p in events] == [
        ("uptime_monitor.down", "down", 3),
        ("uptime_monitor.up", "up", 3),
    ]
    down_event, up_event = events[0][1], events[1][1]
    assert (down_event.uptime_monitor_id, down_event.user_id, down_event.target, down_event.port) == (
        monitor.id,
        7,
        "127.0.0.1",
        server.port,
    )
    assert down_event.at.ToDatetime(UTC) == T0 + timedelta(seconds=120)
    assert down_event.down_since.ToDatetime(UTC) == T0 + timedelta(seconds=60)
    assert down_event.error and down_event.region == "local" and list(down_event.channel_types) == ["email"]
    assert up_event.at.ToDatetime(UTC) == T0 + timedelta(seconds=150) and up_event.latency_ms >= 0

    results = uptime.results(monitor.id, None, 100, _anyone, monitoring.uow())
    assert [r.success for r in reversed(results)] == outcomes
    assert all(r.latency_ms is not None and r.status_code == 200 for r in results if r.success)
    reference = round(100 * sum(outcomes) / len(outcomes), 2)
    answer = uptime.uptime(monitor.id, _anyone, monitoring.uow())
    assert answer.percent == {"24h": reference, "7d": reference, "30d": reference}
    assert answer.checks["24h"] == len(outcomes) == 7
    # A day later the 24 hours hold no check; 7 and 30 days still do.
    clock.advance(timedelta(days=1, minutes=5))
    later = uptime.uptime(monitor.id, _anyone, monitoring.uow())
    assert later.percent == {"24h": None, "7d": reference, "30d": reference}
    server.stop()


def test_tcp_ping_and_an_https_certificate(monitoring: Monitoring, clock: ManualClock, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    tcp_port = listener.getsockname()[1]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "uptime test")])
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(expires)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    https = _Server(tls=tls)
    https.start()
    try:
        tcp = uptime.create(_new("tcp", "127.0.0.1", tcp_port), REGIONS, monitoring.uow())
        ping = uptime.create(_new("ping", "127.0.0.1"), REGIONS, monitoring.uow())
        secure = uptime.create(_new("https", "127.0.0.1", https.port), REGIONS, monitoring.uow())
        untrusted = uptime.create(_new("https", "127.0.0.1", https.port, name="untrusted"), REGIONS, monitoring.uow())
        trusting = monitoring.uptime_checker("local", ca_file=str(cert_file))
        for _ in range(3):
            assert uptime.check_due(trusting, 3, monitoring.uow(), limit=1).checked == 1
        for monitor in (tcp, ping, secure):
            [result] = uptime.results(monitor.id, None, 10, _anyone, monitoring.uow())
            assert result.success, (monitor.type, result.error)
        checked = uptime.get(secure.id, _anyone, monitoring.uow())
        assert checked.certificate_expires_at == expires
        # The system's CAs do not know this certificate: the check fails and says why.
        assert uptime.check_due(monitoring.uptime_checker("local"), 3, monitoring.uow()).checked == 1
        [failed] = uptime.results(untrusted.id, None, 10, _anyone, monitoring.uow())
        assert not failed.success and "certificate" in failed.error.lower()
        # The listener gone: the tcp check fails.
        listener.close()
        clock.advance(timedelta(seconds=30))
        uptime.check_due(trusting, 3, monitoring.uow())
        latest = uptime.results(tcp.id, None, 10, _anyone, monitoring.uow())[0]
        assert not latest.success and latest.latency_ms is None
    finally:
        https.stop()
        listener.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "http://example.com/"}, "target"),
        ({"target": "exa mple.com"}, "target"),
        ({"target": "-bad-.example"}, "target"),
        ({"target": ""}, "target"),
        ({"interval_seconds": 29}, "interval_seconds"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"type": "smtp"}, "type"),
        ({"port": 70_000}, "port"),
        ({"regions": ["fsn1"]}, "regions"),
        ({"channels": [("webhook", "ftp://example.com/hook")]}, "notification_channels[0]"),
        ({"channels": [("email", "not an address")]}, "notification_channels[0]"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_changes_nothing(monitoring: Monitoring, change: dict[str, object], field: str) -> None:
    existing = uptime.create(_new("http", "example.com"), REGIONS, monitoring.uow())
    with pytest.raises(InvalidInput) as refused:
        uptime.create(dataclasses.replace(_new("http", "example.com"), **change), REGIONS, monitoring.uow())  # type: ignore[arg-type]
    fields = cast(list[dict[str, Any]], refused.value.details["fields"])
    assert fields[0]["name"] == field
    update = {k: v for k, v in change.items() if k not in ("type",)}
    if update:
        with pytest.raises(InvalidInput):
            uptime.change(existing.id, uptime.UptimeMonitorChange(**update), REGIONS, _anyone, monitoring.uow())  # type: ignore[arg-type]
    with monitoring.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM uptime_monitors")).scalar() == 1
    assert uptime.get(existing.id, _anyone, monitoring.uow()) == existing
    assert [r.topic for r in outbox_records(monitoring.engine)] == ["monitoring.events"]


def test_another_tenant_sees_nothing_and_delete_removes_results(monitoring: Monitoring, clock: ManualClock) -> None:
    monitor = uptime.create(_new("tcp", "127.0.0.1", 9), REGIONS, monitoring.uow())
    uptime.check_due(monitoring.uptime_checker("local"), 3, monitoring.uow())

    def other(user_id: int, organization_id: int | None) -> None:
        raise NotFound("uptime monitor does not exist")

    for call in (
        lambda: uptime.get(monitor.id, other, monitoring.uow()),
        lambda: uptime.results(monitor.id, None, 10, other, monitoring.uow()),
        lambda: uptime.uptime(monitor.id, other, monitoring.uow()),
        lambda: uptime.delete(monitor.id, other, monitoring.uow()),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(InvalidInput):
        uptime.results(monitor.id, T0 - timedelta(days=40), 10, _anyone, monitoring.uow())
    uptime.delete(monitor.id, _anyone, monitoring.uow())
    with monitoring.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM uptime_check_results")).scalar() == 0
    kinds = [read_event(r.topic, 0, r.offset, r.value or b"").event_type for r in outbox_records(monitoring.engine)]
    assert kinds == ["uptime_monitor.created", "uptime_monitor.deleted"]
