"""Alerts through their rule's channels, end to end on MariaDB, real identity and monitoring
servers over gRPC (each trusting support's own service key), the local SMTP sink and real HTTP
receivers on loopback (and once through the real Kafka and a consumer process).

Monitoring's ``alert.triggered`` / ``alert.resolved`` (fed to support's reaction twice: a
redelivery) become one ``channels`` delivery; the sender asks monitoring for the rule's channels
and writes the owner's in-app notification, a mail to the rule's address and a webhook to its
URL, which the next pass sends: the mail lands in the sink once, the webhook reaches the
receiver once with an HMAC-SHA256 signature of its body under the account's secret. A receiver
that is down is retried with backoff and recorded failed after the last attempt; monitoring not
answering leaves the notice waiting; a deleted rule is recorded failed; an address inside the
platform is never called unless the settings allow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudctl.stack import SMTP_HOST, SMTP_PORT
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_events
from cpshared.auth.principal import TrustedKeys, generate_private_key, load_public_key, write_key_pair
from cpshared.db import make_engine
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import inbox, outbox
from cpshared.mail import MailSettings
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic
from identity_service.bootstrap import Identity
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_server import add_servicers as add_identity_servicers
from monitoring_service.bootstrap import Monitoring
from monitoring_service.entrypoints.alert_rule_servicer import add_alert_rule_servicer
from monitoring_service.service_layer import alert_rules
from support_service.adapters import tables as t
from support_service.adapters.monitoring_channels import MonitoringChannelSources
from support_service.adapters.object_store import LocalObjectStore
from support_service.adapters.recipients import IdentityRecipients
from support_service.adapters.webhooks import HttpWebhooks
from support_service.bootstrap import Support
from support_service.domain import webhooks
from support_service.domain.delivery import FAILED, FAN_OUT, PENDING, SENT, RetryPolicy
from support_service.entrypoints import mail_sender
from support_service.entrypoints.notification_projection import NotificationProjection
from support_service.service_layer import notifications
from tests.integration.backbone import KAFKA
from tests.integration.live import free_port, grpc_in_thread
from tests.integration.support.recipients import make_user
from tests.integration.test_consumer_crashes import produce, wait_until

ROOT = Path(__file__).resolve().parents[3]

SINK = MailSettings(smtp_host=SMTP_HOST, smtp_port=SMTP_PORT, public_url="https://cloud.example")
POLICY = RetryPolicy(max_attempts=3, first_backoff=timedelta(0), max_backoff=timedelta(0))
TRIGGERED_AT = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


class Receiver:
    """A webhook receiver on loopback that keeps what it got (and whether the signature held)."""

    def __init__(self, status: int = 204) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts?team=ops"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class World:
    support_url: str
    support: Support
    identity: Identity
    monitoring: Monitoring
    recipients: IdentityRecipients
    sources: MonitoringChannelSources
    sink: MailSink
    runner: ProjectionRunner
    key_file: str
    post: HttpWebhooks = field(default_factory=lambda: HttpWebhooks(timeout_seconds=2, allow_internal=True))
    offset: int = 0

    def feed(self, topic: str, event_type: str, aggregate_id: int, payload: Message) -> str:
        event = new_event(
            REGISTRY.spec(event_type),
            producer="monitoring",
            aggregate_id=aggregate_id,
            aggregate_version=1,
            payload=payload,
        )
        self.offset += 1
        record = RawRecord(topic, 0, self.offset, event.key, event.envelope.SerializeToString(), event.headers())
        self.runner.apply_batch([record])
        self.runner.apply_batch([record])  # redelivered
        return event.envelope.event_id

    def rule(self, user_id: int, channels: list[tuple[str, str]], organization_id: int | None = None) -> int:
        rule = alert_rules.create(
            alert_rules.NewAlertRule(
                user_id=user_id,
                organization_id=organization_id,
                name="CPU <hot> on web",
                resource_type="server",
                resource_id=None,
                metric="cpu_usage",
                operator="gt",
                threshold="90",
                duration_minutes=5,
                enabled=True,
                channels=channels,
            ),
            self.monitoring.uow(),
        )
        return rule.id

    def alert(self, event_type: str, rule_id: int, user_id: int, organization_id: int = 0) -> str:
        payload = self.alert_payload(event_type, rule_id, user_id, organization_id)
        return self.feed("monitoring.events", event_type, payload.alert_id, payload)

    def alert_payload(
        self, event_type: str, rule_id: int, user_id: int, organization_id: int = 0
    ) -> monitoring_events.AlertChanged:
        triggered = Timestamp()
        triggered.FromDatetime(TRIGGERED_AT)
        payload = monitoring_events.AlertChanged(
            alert_id=int(uuid.uuid4().int % 10**12),
            alert_rule_id=rule_id,
            user_id=user_id,
            organization_id=organization_id,
            rule_name="CPU <hot> on web",
            resource_type="server",
            resource_id=42,
            metric="cpu_usage",
            operator="gt",
            threshold="90.00",
            duration_minutes=5,
            status=event_type.split(".")[1],
            value="97.50",
            triggered_at=triggered,
        )
        if event_type == "alert.resolved":
            payload.resolved_at.FromDatetime(TRIGGERED_AT + timedelta(minutes=7))
        return payload

    def send(self, *, sources: MonitoringChannelSources | None = None, post: HttpWebhooks | None = None) -> Any:
        outcome = mail_sender.run_once(
            self.support, self.recipients, SINK, POLICY, post=post or self.post, sources=sources or self.sources
        )
        assert outcome is not None
        return outcome

    def deliveries(self, user_id: int) -> list[sa.Row[Any]]:
        c = t.notification_deliveries.c
        with self.support.engine.connect() as conn:
            return list(
                conn.execute(sa.select(t.notification_deliveries).where(c.user_id == user_id).order_by(c.created_at))
            )

    def failures_announced(self, delivery_id: str) -> int:
        with self.support.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.envelope).where(outbox.c.event_type == "notification.delivery_failed")
            ).scalars()
            return sum(1 for raw in rows if delivery_id.encode() in raw)


@pytest.fixture(scope="module")
def world(paths: LocalPaths) -> Iterator[World]:
    sink = MailSink(paths.root)
    assert sink.status().healthy, "the SMTP sink is not running: `cloudctl up --infra-only` starts it"
    mariadb = MariaDB(paths.root)
    with contextlib.ExitStack() as stack:
        identity_url = stack.enter_context(mariadb.scratch_database("cp_test_an_id"))
        support_url = stack.enter_context(mariadb.scratch_database("cp_test_an_su"))
        monitoring_url = stack.enter_context(mariadb.scratch_database("cp_test_an_mo"))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("support", migrations_dir("support"), support_url)
        upgrade("monitoring", migrations_dir("monitoring"), monitoring_url)
        engines = [make_engine(url, pool_size=5) for url in (identity_url, support_url, monitoring_url)]
        for engine in engines:
            stack.callback(engine.dispose)
        private, public = write_key_pair(scratch, "service-support")
        signing_key = generate_private_key()
        trusted = TrustedKeys(issuer=signing_key.public_key(), services={"support": load_public_key(public)})
        identity = Identity(engines[0], signing_key, MailSettings(), SecretBox(bytes(32)))
        monitoring = Monitoring(engines[2])
        identity_address = stack.enter_context(
            grpc_in_thread("identity", lambda server: add_identity_servicers(server, identity), trusted)
        )
        monitoring_address = stack.enter_context(
            grpc_in_thread("monitoring", lambda server: add_alert_rule_servicer(server, monitoring), trusted)
        )
        recipients = IdentityRecipients(identity_address, str(private))
        stack.callback(recipients.close)
        sources = MonitoringChannelSources(monitoring_address, str(private))
        stack.callback(sources.close)
        support = Support(engines[1], LocalObjectStore(scratch / "attachments"))
        runner = ProjectionRunner(engines[1], NotificationProjection())
        yield World(support_url, support, identity, monitoring, recipients, sources, sink, runner, str(private))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_an_alert_reaches_the_inbox_the_rules_address_and_its_signed_webhook_once(
    world: World, receiver: Receiver
) -> None:
    user_id, _ = make_user(world.identity, locale="de-DE", timezone="Europe/Berlin")
    ops = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    rule_id = world.rule(user_id, [("in_app", ""), ("email", ops), ("webhook", receiver.url)])
    event_id = world.alert("alert.triggered", rule_id, user_id)

    [pending] = world.deliveries(user_id)  # once, though delivered twice
    assert (pending.channel, pending.status, pending.type) == (FAN_OUT, PENDING, "alert_triggered")

    first = world.send()  # asks monitoring for the rule's channels
    assert pending.id in first.sent
    rows = {row.channel: row for row in world.deliveries(user_id)}
    assert set(rows) == {FAN_OUT, "email", "webhook"}
    assert rows["email"].target == ops and rows["webhook"].target == receiver.url
    inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=True, page=1, per_page=50)
    [notice] = [n for n in inbox if n.type == "alert_triggered"]
    assert notice.data["alert_rule_id"] == rule_id and notice.data["value"] == "97.50"

    second = world.send()
    assert {rows["email"].id, rows["webhook"].id} <= set(second.sent)
    assert not set(world.send().sent) & {rows["email"].id, rows["webhook"].id}  # nothing twice

    mail = world.sink.wait_for(ops, "Alarm: CPU <hot> on web")
    assert "97.50" in mail.body and "10:30 CET" in mail.body  # the owner's language and time zone
    assert len(world.sink.messages(ops)) == 1

    [(headers, body)] = receiver.got
    secret = notifications.webhook_secret(user_id, 0, world.support.uow())
    assert secret.startswith("whsec_")
    assert webhooks.verify(secret, body, headers[webhooks.SIGNATURE_HEADER.lower()])
    assert not webhooks.verify("whsec_other", body, headers[webhooks.SIGNATURE_HEADER.lower()])
    assert headers[webhooks.EVENT_HEADER.lower()] == "alert.triggered"
    assert headers[webhooks.DELIVERY_HEADER.lower()] == rows["webhook"].id
    document = json.loads(body)
    assert document["id"] == rows["webhook"].id and document["type"] == "alert.triggered"
    assert document["data"]["alert_rule_id"] == rule_id and document["data"]["rule_name"] == "CPU <hot> on web"
    assert "target" not in body.decode() and ops not in body.decode()
    assert event_id

    # resolved: the same way, once more each
    world.alert("alert.resolved", rule_id, user_id)
    world.send()
    world.send()
    assert [json.loads(b)["type"] for _, b in receiver.got] == ["alert.triggered", "alert.resolved"]
    world.sink.wait_for(ops, "Behoben: CPU <hot> on web")
    kinds = sorted((row.channel, row.type, row.status) for row in world.deliveries(user_id))
    assert kinds == sorted(
        (channel, kind, SENT)
        for channel in (FAN_OUT, "email", "webhook")
        for kind in ("alert_triggered", "alert_resolved")
    )


def test_a_rotated_secret_signs_from_then_on(world: World, receiver: Receiver) -> None:
    user_id, _ = make_user(world.identity)
    rule_id = world.rule(user_id, [("webhook", receiver.url)])
    old = notifications.webhook_secret(user_id, 0, world.support.uow())
    new = notifications.rotate_webhook_secret(user_id, 0, world.support.uow())
    assert new != old and notifications.webhook_secret(user_id, 0, world.support.uow()) == new
    world.alert("alert.triggered", rule_id, user_id)
    world.send()
    world.send()
    [(headers, body)] = receiver.got
    assert webhooks.verify(new, body, headers[webhooks.SIGNATURE_HEADER.lower()])
    assert not webhooks.verify(old, body, headers[webhooks.SIGNATURE_HEADER.lower()])
    # a rule with only a webhook puts nothing in the inbox
    inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=False, page=1, per_page=50)
    assert inbox == []


def test_a_receiver_that_is_down_is_retried_then_recorded_failed(world: World) -> None:
    user_id, _ = make_user(world.identity)
    down = f"http://127.0.0.1:{_closed_port()}/hook"
    rule_id = world.rule(user_id, [("webhook", down)])
    world.alert("alert.triggered", rule_id, user_id)
    world.send()  # the rule's channels
    [hook] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
    outcomes = [world.send() for _ in range(POLICY.max_attempts)]
    assert [hook.id in o.retried for o in outcomes] == [True, True, False]
    assert hook.id in outcomes[-1].failed
    [failed] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
    assert failed.status == FAILED and failed.attempts == POLICY.max_attempts
    assert "127.0.0.1" in (failed.last_error or "")
    assert world.failures_announced(hook.id) == 1
    assert hook.id not in world.send().sent  # failed for good


def test_a_receiver_answering_an_error_is_a_failed_attempt_then_a_success(world: World) -> None:
    flaky = Receiver(status=503)
    try:
        user_id, _ = make_user(world.identity)
        rule_id = world.rule(user_id, [("webhook", flaky.url)])
        world.alert("alert.triggered", rule_id, user_id)
        world.send()
        [hook] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
        assert hook.id in world.send().retried
        flaky.status = 200
        assert hook.id in world.send().sent
        assert len(flaky.got) == 2 and flaky.got[0][1] == flaky.got[1][1]  # the same body, the same id
        [sent] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
        assert sent.status == SENT and sent.attempts == 2
    finally:
        flaky.close()


def test_an_internal_address_is_not_called_unless_allowed(world: World, receiver: Receiver) -> None:
    user_id, _ = make_user(world.identity)
    rule_id = world.rule(user_id, [("webhook", receiver.url)])
    world.alert("alert.triggered", rule_id, user_id)
    guarded = HttpWebhooks(timeout_seconds=2, allow_internal=False)
    world.send(post=guarded)
    [hook] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
    assert hook.id in world.send(post=guarded).failed
    [failed] = [row for row in world.deliveries(user_id) if row.channel == "webhook"]
    assert failed.status == FAILED and failed.attempts == 1 and "internal address" in (failed.last_error or "")
    assert receiver.got == []


def test_monitoring_not_answering_leaves_the_notice_waiting_and_a_deleted_rule_fails_it(world: World) -> None:
    user_id, _ = make_user(world.identity)
    rule_id = world.rule(user_id, [("in_app", "")])
    world.alert("alert.triggered", rule_id, user_id)
    [pending] = world.deliveries(user_id)
    away = MonitoringChannelSources(f"127.0.0.1:{free_port()}", world.key_file)
    try:
        assert pending.id in world.send(sources=away).retried
    finally:
        away.close()
    assert pending.id in world.send().sent
    inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=True, page=1, per_page=50)
    assert [n.type for n in inbox] == ["alert_triggered"]

    gone = world.rule(user_id, [("in_app", "")])
    alert_rules.delete(gone, alert_rules_reach_all(), world.monitoring.uow())
    world.alert("alert.resolved", gone, user_id)
    [fan_out] = [row for row in world.deliveries(user_id) if row.status == PENDING]
    assert fan_out.id in world.send().failed
    [failed] = [row for row in world.deliveries(user_id) if row.id == fan_out.id]
    assert failed.status == FAILED and "no longer exists" in (failed.last_error or "")


def test_an_organizations_rule_reaches_its_owners_and_admins_inbox(world: World, receiver: Receiver) -> None:
    owner, _ = make_user(world.identity)
    admin, _ = make_user(world.identity)
    plain, _ = make_user(world.identity)
    organization_id = int(uuid.uuid4().int % 10**9)
    world.feed(
        "identity.events",
        "organization.created",
        organization_id,
        identity_events.OrganizationCreated(organization_id=organization_id, owner_user_id=owner, status="active"),
    )
    for user_id, role in ((admin, "admin"), (plain, "member")):
        world.feed(
            "identity.events",
            "organization.member_added",
            organization_id,
            identity_events.OrganizationMemberAdded(organization_id=organization_id, user_id=user_id, role=role),
        )
    rule_id = world.rule(admin, [("in_app", ""), ("webhook", receiver.url)], organization_id)
    world.alert("alert.triggered", rule_id, admin, organization_id)
    world.send()
    world.send()
    for user_id, hears in ((owner, True), (admin, True), (plain, False)):
        inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=True, page=1, per_page=50)
        assert [n.type for n in inbox] == (["alert_triggered"] if hears else [])
    [(headers, body)] = receiver.got
    signed = headers[webhooks.SIGNATURE_HEADER.lower()]
    # the organization's secret signs (whoever of its members asks for it), not the member's own
    assert webhooks.verify(notifications.webhook_secret(owner, organization_id, world.support.uow()), body, signed)
    assert not webhooks.verify(notifications.webhook_secret(admin, 0, world.support.uow()), body, signed)


def test_through_kafka_a_redelivered_alert_reaches_the_webhook_once(
    world: World, receiver: Receiver, scratch_stream: Topic, tmp_path: Path
) -> None:
    """monitoring.events on the real Kafka (a scratch topic), support's reaction as its own
    consumer process (as the stack runs it), the alert published twice (the processor re-sends
    after a crash)."""
    user_id, _ = make_user(world.identity)
    rule_id = world.rule(user_id, [("webhook", receiver.url)])
    payload = world.alert_payload("alert.triggered", rule_id, user_id)
    spec = REGISTRY.spec("alert.triggered")
    event = new_event(
        spec,
        producer="monitoring",
        aggregate_id=payload.alert_id,
        aggregate_version=1,
        payload=payload,
        topic=scratch_stream,
    )
    asyncio.run(produce([event, event]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | {
        "CP_SERVICE_NAME": "support-consumer",
        "CP_ENVIRONMENT": "test",
        "CP_METRICS_PORT": "0",
        "CP_KAFKA_BOOTSTRAP": KAFKA,
        "CP_DATABASE_URL": world.support_url,
        "CP_TEST_TOPIC": scratch_stream.name,
        "CP_TEST_CONSUMER": f"support-{scratch_stream.name}",
    }

    def applied() -> int:
        with world.support.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one())

    before = applied()
    with (tmp_path / "consumer.log").open("ab") as out:
        host = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cpshared.events.consumer_main",
                "tests.integration.support.scratch:notifications_from_env",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: len(world.deliveries(user_id)) == 1 and applied() > before, 60, "the reaction to apply it")
    finally:
        host.send_signal(signal.SIGTERM)
        host.wait(30)
    [fan_out] = world.deliveries(user_id)
    assert fan_out.channel == FAN_OUT
    world.send()
    world.send()
    [(headers, body)] = receiver.got
    secret = notifications.webhook_secret(user_id, 0, world.support.uow())
    assert webhooks.verify(secret, body, headers[webhooks.SIGNATURE_HEADER.lower()])
    assert json.loads(body)["data"]["alert_id"] == payload.alert_id


def alert_rules_reach_all() -> Any:
    """Monitoring's reach as a service principal has it: every rule."""

    def reach(owner_user_id: int, owner_organization_id: int | None) -> None:
        return None

    return reach


def test_an_uptime_monitor_going_down_and_up_reaches_its_owners_inbox_and_mail_once(world: World) -> None:
    """Uptime notices have no channel lookup yet: the owner's inbox and mail, as preferences say."""
    user_id, address = make_user(world.identity)
    monitor_id = int(uuid.uuid4().int % 10**9)
    for event_type in ("uptime_monitor.down", "uptime_monitor.up"):
        at = Timestamp()
        at.FromDatetime(TRIGGERED_AT)
        payload = monitoring_events.UptimeMonitorStatusChanged(
            uptime_monitor_id=monitor_id,
            user_id=user_id,
            name="shop <front>",
            type="https",
            target="shop.example.com",
            port=443,
            status=event_type.split(".")[1],
            at=at,
            channel_types=["email", "in_app"],
        )
        world.feed("monitoring.events", event_type, monitor_id, payload)  # fed twice: redelivered
    for _ in range(3):
        world.send()
    inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=True, page=1, per_page=50)
    assert sorted(n.type for n in inbox) == ["uptime_down", "uptime_up"]
    world.sink.wait_for(address, "Up again: shop <front>")
    subjects = sorted(m.subject for m in world.sink.messages(address))
    assert subjects == ["Down: shop <front>", "Up again: shop <front>"]
