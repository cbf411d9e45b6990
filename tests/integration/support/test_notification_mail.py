"""Notifications by mail, end to end on MariaDB, a real identity over gRPC and the local SMTP sink.

Support's reaction writes one pending mail delivery per notification in its own transaction
(a redelivered event adds none); the sender asks identity, as support, who the user is, renders
the mail in their language and time zone, hands it to the SMTP sink and records it sent (a
second pass sends nothing). A maintenance title full of markup and a header injection arrives
as text. A user who turned email off for a kind still finds it in the inbox and gets no mail.
An SMTP server that refuses is retried with backoff and recorded failed after the last attempt.
"""

from __future__ import annotations

import email.policy
import mailbox
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudctl.stack import SMTP_HOST, SMTP_PORT
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cloudplatform.compute.v1 import events_pb2 as compute_events
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.support.v1 import events_pb2 as support_events
from cpshared.db import make_engine
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import new_event
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.mail import MailSettings
from cpshared.migrations import migrations_dir, upgrade
from identity_service.bootstrap import Identity
from support_service.adapters import tables as t
from support_service.adapters.object_store import LocalObjectStore
from support_service.adapters.recipients import IdentityRecipients
from support_service.bootstrap import Support
from support_service.domain.delivery import EMAIL, FAILED, SENT, Preference, RetryPolicy
from support_service.entrypoints import mail_sender
from support_service.entrypoints.notification_projection import NotificationProjection
from support_service.service_layer import notifications
from tests.integration.support.recipients import identity_for_support, make_user

PASSWORD = "notify password 1234"
SINK = MailSettings(smtp_host=SMTP_HOST, smtp_port=SMTP_PORT, public_url="https://cloud.example")
POLICY = RetryPolicy(max_attempts=3, first_backoff=timedelta(0), max_backoff=timedelta(0))


@dataclass
class World:
    support: Support
    identity: Identity
    recipients: IdentityRecipients
    sink: MailSink
    runner: ProjectionRunner
    offset: int = 0

    def user(self, *, locale: str = "", timezone: str = "") -> tuple[int, str]:
        return make_user(self.identity, locale=locale, timezone=timezone)

    def feed(self, topic: str, event_type: str, aggregate_id: int, payload: Message, *, twice: bool = True) -> None:
        event = new_event(
            REGISTRY.spec(event_type),
            producer=topic.split(".")[0],
            aggregate_id=aggregate_id,
            aggregate_version=1,
            payload=payload,
        )
        self.offset += 1
        record = RawRecord(topic, 0, self.offset, event.key, event.envelope.SerializeToString(), event.headers())
        self.runner.apply_batch([record])
        if twice:
            self.runner.apply_batch([record])  # redelivered

    def server_in(self, user_id: int, datacenter: str) -> None:
        server_id = int(uuid.uuid4().int % 10**9)
        self.feed(
            "compute.events",
            "server.created",
            server_id,
            compute_events.ServerCreated(server_id=server_id, user_id=user_id, datacenter=datacenter),
        )

    def window(self, title: str, datacenter: str) -> int:
        window_id = int(uuid.uuid4().int % 10**9)
        start, end = Timestamp(), Timestamp()
        start.FromDatetime(datetime(2026, 12, 8, 13, 0, tzinfo=UTC))
        end.FromDatetime(datetime(2026, 12, 8, 15, 30, tzinfo=UTC))
        payload = support_events.MaintenanceWindowChanged(
            maintenance_window_id=window_id,
            title=title,
            type="planned",
            status="scheduled",
            start_time=start,
            end_time=end,
            affected_services=["servers"],
            affected_datacenters=[datacenter],
        )
        self.feed("support.events", "maintenance.scheduled", window_id, payload)
        return window_id

    def deliveries(self, user_id: int) -> list[sa.Row[object]]:
        c = t.notification_deliveries.c
        with self.support.engine.connect() as conn:
            return list(conn.execute(sa.select(t.notification_deliveries).where(c.user_id == user_id)))

    def announced(self, user_id: int) -> list[tuple[str, dict[str, object]]]:
        """The notification.* events about ``user_id`` in support's outbox, in order."""
        found = []
        with self.support.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.event_type, outbox.c.envelope)
                .where(outbox.c.event_type.like("notification.%"))
                .order_by(outbox.c.id)
            )
            for event_type, raw in rows:
                envelope = EventEnvelope.FromString(raw)
                payload = REGISTRY.spec(event_type).message()
                envelope.payload.Unpack(payload)
                data = MessageToDict(payload, preserving_proto_field_name=True)
                if int(data.get("user_id", 0)) == user_id:
                    found.append((str(event_type), data))
        return found

    def mails(self, to: str) -> list[EmailMessage]:
        found = []
        if self.sink.maildir.exists():
            for message in mailbox.Maildir(self.sink.maildir, create=False):
                parsed = message_from_bytes(message.as_bytes(), policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                if to.lower() in str(parsed["To"]).lower():
                    found.append(parsed)
        return found


@pytest.fixture(scope="module")
def world(paths: LocalPaths) -> Iterator[World]:
    sink = MailSink(paths.root)
    assert sink.status().healthy, "the SMTP sink is not running: `cloudctl up --infra-only` starts it"
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_nm_id") as identity_url,
        mariadb.scratch_database("cp_test_nm_su") as support_url,
        tempfile.TemporaryDirectory() as scratch,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("support", migrations_dir("support"), support_url)
        identity_engine = make_engine(identity_url, pool_size=5)
        support_engine = make_engine(support_url, pool_size=5)
        support = Support(support_engine, LocalObjectStore(Path(scratch) / "attachments"))
        try:
            with identity_for_support(identity_engine) as (identity, recipients):
                runner = ProjectionRunner(support_engine, NotificationProjection())
                yield World(support, identity, recipients, sink, runner)
        finally:
            support_engine.dispose()
            identity_engine.dispose()


def test_a_notification_is_mailed_once_in_the_users_language_and_time_zone_as_text(world: World) -> None:
    user_id, address = world.user(locale="de-DE", timezone="Europe/Berlin")
    world.server_in(user_id, "fsn1-dc14")
    title = "<script>alert(1)</script> Kernel\r\nBcc: victim@example.com"
    world.window(title, "fsn1-dc14")

    pending = world.deliveries(user_id)
    assert [(row.channel, row.status, row.type) for row in pending] == [(EMAIL, "pending", "maintenance_scheduled")]
    first = mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    assert first is not None and pending[0].id in first.sent
    again = mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    assert again is not None and pending[0].id not in again.sent

    world.sink.wait_for(address, "Wartung geplant")
    mails = world.mails(address)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Bcc"] is None and "\n" not in str(mail["Subject"])
    assert str(mail["Subject"]).strip().startswith("Wartung geplant: <script>alert(1)</script> Kernel Bcc:")
    assert str(mail["Message-ID"]).strip() == f"<{pending[0].id}@notifications.cloud.localhost>"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "2026-12-08 14:00 CET" in text.get_content() and "16:30 CET" in text.get_content()
    assert "Hallo Nora <b>Notify</b>," in text.get_content()
    body = html.get_content()
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Nora &lt;b&gt;Notify&lt;/b&gt;" in body
    assert 'href="https://cloud.example/notifications"' in body
    [row] = world.deliveries(user_id)
    assert row.status == SENT and row.attempts == 1 and row.message_id == str(mail["Message-ID"]).strip()
    # announced once each (the event was delivered twice), with no content
    announced = world.announced(user_id)
    assert [event_type for event_type, _ in announced] == ["notification.created", "notification.delivered"]
    assert announced[0][1]["channels"] == ["in_app", "email"] and announced[0][1]["kind"] == "maintenance_scheduled"
    assert announced[1][1]["message_id"] == row.message_id and "Kernel" not in str(announced)


def test_email_turned_off_for_a_kind_keeps_the_inbox_and_sends_no_mail(world: World) -> None:
    quiet, quiet_address = world.user()
    loud, loud_address = world.user()
    chosen = notifications.set_preferences(
        quiet, [Preference("maintenance_scheduled", EMAIL, False)], world.support.uow()
    )
    assert Preference("maintenance_scheduled", EMAIL, False) in chosen
    assert Preference("maintenance_started", EMAIL, True) in chosen
    assert Preference("maintenance_scheduled", "in_app", True) in chosen
    world.server_in(quiet, "nbg1-dc3")
    world.server_in(loud, "nbg1-dc3")
    window_id = world.window("Network upgrade", "nbg1")

    assert world.deliveries(quiet) == []
    assert [data["channels"] for _, data in world.announced(quiet)] == [["in_app"]]
    inbox, _, _ = notifications.search(quiet, world.support.uow(), unread_only=True, page=1, per_page=50)
    assert [n.type for n in inbox if n.data.get("maintenance_window_id") == window_id] == ["maintenance_scheduled"]
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    mail = world.sink.wait_for(loud_address, "Maintenance scheduled: Network upgrade")
    assert "2026-12-08 13:00 UTC" in mail.body  # no time zone known: UTC, English
    assert world.sink.messages(quiet_address) == []


def test_a_refusing_smtp_server_is_retried_then_the_mail_is_recorded_failed(world: World) -> None:
    user_id, address = world.user()
    world.server_in(user_id, "hel1-dc2")
    world.window("Storage", "hel1-dc2")
    [row] = world.deliveries(user_id)
    down = MailSettings(smtp_host="127.0.0.1", smtp_port=1, smtp_timeout_seconds=1)
    outcomes = [mail_sender.run_once(world.support, world.recipients, down, POLICY) for _ in range(POLICY.max_attempts)]
    assert [row.id in (o.retried if o else []) for o in outcomes] == [True, True, False]
    assert outcomes[-1] is not None and row.id in outcomes[-1].failed
    [failed] = world.deliveries(user_id)
    assert failed.status == FAILED and failed.attempts == POLICY.max_attempts
    assert "127.0.0.1:1" in (failed.last_error or "")
    assert [event_type for event_type, _ in world.announced(user_id)] == [
        "notification.created",
        "notification.delivery_failed",
    ]
    # failed for good: a working SMTP server later sends nothing for it
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    assert world.sink.messages(address) == []


def test_a_failed_attempt_is_retried_and_then_sent(world: World) -> None:
    user_id, address = world.user()
    world.server_in(user_id, "ash-dc1")
    world.window("Power", "ash-dc1")
    down = MailSettings(smtp_host="127.0.0.1", smtp_port=1, smtp_timeout_seconds=1)
    mail_sender.run_once(world.support, world.recipients, down, POLICY)
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    world.sink.wait_for(address, "Maintenance scheduled: Power")
    [row] = world.deliveries(user_id)
    assert row.status == SENT and row.attempts == 2
    assert len(world.sink.messages(address)) == 1


def _kinds(world: World, user_id: int) -> list[str]:
    return sorted(row.type for row in world.deliveries(user_id))


def test_an_organizations_invoice_mails_its_owner_and_billing_member_not_a_plain_member(world: World) -> None:
    owner, _ = world.user()
    billing, billing_address = world.user()
    plain, plain_address = world.user()
    organization_id = int(uuid.uuid4().int % 10**9)
    world.feed(
        "identity.events",
        "organization.created",
        organization_id,
        identity_events.OrganizationCreated(organization_id=organization_id, owner_user_id=owner, status="active"),
    )
    for user_id, role in ((billing, "member"), (plain, "member")):
        world.feed(
            "identity.events",
            "organization.member_added",
            organization_id,
            identity_events.OrganizationMemberAdded(organization_id=organization_id, user_id=user_id, role=role),
        )
    world.feed(
        "identity.events",
        "organization.member_role_changed",
        organization_id,
        identity_events.OrganizationMemberRoleChanged(
            organization_id=organization_id, user_id=billing, old_role="member", new_role="billing"
        ),
    )
    due = Timestamp()
    due.FromDatetime(datetime(2026, 12, 22, tzinfo=UTC))
    number = f"INV-{uuid.uuid4().hex[:8]}"
    world.feed(
        "billing.events",
        "invoice.issued",
        1,
        billing_events.InvoiceIssued(
            invoice_id=1,
            invoice_number=number,
            account_type="organization",
            account_id=organization_id,
            user_id=owner,
            organization_id=organization_id,
            currency="EUR",
            total="119.00",
            due_date=due,
        ),
    )
    assert _kinds(world, owner) == _kinds(world, billing) == ["invoice_issued"]
    assert _kinds(world, plain) == []
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    mail = world.sink.wait_for(billing_address, f"Invoice {number}: 119.00 EUR")
    assert "due 2026-12-22 00:00 UTC" in mail.body
    assert world.sink.messages(plain_address) == []


def test_identity_and_compute_events_notify_the_user(world: World) -> None:
    user_id, _ = world.user()
    for ip in ("203.0.113.1", "203.0.113.1", "198.51.100.7"):
        world.feed(
            "identity.events",
            "user.login_succeeded",
            user_id,
            identity_events.UserLoginSucceeded(user_id=user_id, ip=ip),
        )
    # the very first address notifies nobody, the same again neither, a new one does
    assert _kinds(world, user_id) == ["new_sign_in"]
    world.feed(
        "identity.events",
        "user.suspended",
        user_id,
        identity_events.UserStatusChanged(user_id=user_id, old_status="active", new_status="suspended"),
    )
    world.feed(
        "compute.events",
        "server.status_changed",
        5,
        compute_events.ServerStatusChanged(
            server_id=5, user_id=user_id, old_status="starting", status="error", error_code="upstream_failed"
        ),
    )
    world.feed(
        "compute.events",
        "server.status_changed",
        5,
        compute_events.ServerStatusChanged(server_id=5, user_id=user_id, old_status="off", status="running"),
    )
    for usage in (2, 3):  # the second reservation uses the quota up
        world.feed(
            "identity.events",
            "quota.reserved",
            9,
            identity_events.QuotaReserved(
                quota_id=9, user_id=user_id, resource_type="server", amount=1, current_usage=usage, quota_limit=3
            ),
        )
    assert _kinds(world, user_id) == ["account_suspended", "new_sign_in", "quota_reached", "server_error"]
    inbox, _, _ = notifications.search(user_id, world.support.uow(), unread_only=False, page=1, per_page=50)
    sign_in = next(n for n in inbox if n.type == "new_sign_in")
    assert sign_in.data["ip"] == "198.51.100.7"


def test_a_user_identity_does_not_know_is_recorded_failed_at_once(world: World) -> None:
    nobody = 987_654_321
    world.server_in(nobody, "fsn1-dc7")
    world.window("Cooling", "fsn1-dc7")
    [row] = world.deliveries(nobody)
    outcome = mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    assert outcome is not None and row.id in outcome.failed
    [failed] = world.deliveries(nobody)
    assert failed.status == FAILED and failed.attempts == 1
    assert failed.last_error == f"user {nobody} has no address to mail"


def test_dunning_reaches_the_accounts_billing_contacts_at_suspension_and_lift_once(world: World) -> None:
    owner, _ = world.user()
    admin, admin_address = world.user(locale="de")
    billing, _ = world.user()
    plain, plain_address = world.user()
    organization_id = int(uuid.uuid4().int % 10**9)
    world.feed(
        "identity.events",
        "organization.created",
        organization_id,
        identity_events.OrganizationCreated(organization_id=organization_id, owner_user_id=owner, status="active"),
    )
    for user_id, role in ((admin, "admin"), (billing, "billing"), (plain, "member")):
        world.feed(
            "identity.events",
            "organization.member_added",
            organization_id,
            identity_events.OrganizationMemberAdded(organization_id=organization_id, user_id=user_id, role=role),
        )
    invoice = billing_events.InvoiceRef(
        invoice_id=7, invoice_number="INV-DUN-1", user_id=owner, organization_id=organization_id, currency="EUR"
    )
    # billing's request notifies nobody: the suspension identity decides does, once (fed twice)
    world.feed(
        "billing.events",
        "billing.suspension_requested",
        organization_id,
        billing_events.SuspensionRequested(invoice=invoice, account_type="organization", account_id=organization_id),
    )
    contacts = (owner, admin, billing)
    assert [_kinds(world, user_id) for user_id in (*contacts, plain)] == [[], [], [], []]
    world.feed(
        "identity.events",
        "organization.suspended",
        organization_id,
        identity_events.OrganizationStatusChanged(
            organization_id=organization_id, old_status="active", new_status="suspended", requested_by="billing"
        ),
    )
    assert [_kinds(world, user_id) for user_id in (*contacts, plain)] == [["account_suspended"]] * 3 + [[]]
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    mail = world.sink.wait_for(admin_address, "Ihr Konto wurde gesperrt")
    assert "überfällig" in mail.body and "nichts wird gelöscht" in mail.body

    # billing lifts its request: identity reactivates, and that reaches the same people, once
    world.feed(
        "billing.events",
        "billing.suspension_lifted",
        organization_id,
        billing_events.SuspensionLifted(account_type="organization", account_id=organization_id, cleared_by=invoice),
    )
    world.feed(
        "identity.events",
        "organization.activated",
        organization_id,
        identity_events.OrganizationStatusChanged(
            organization_id=organization_id, old_status="suspended", new_status="active", requested_by="billing"
        ),
    )
    expected = ["account_activated", "account_suspended"]
    assert [_kinds(world, user_id) for user_id in (*contacts, plain)] == [expected] * 3 + [[]]
    inbox, _, _ = notifications.search(billing, world.support.uow(), unread_only=True, page=1, per_page=50)
    assert sorted((n.type, n.data["cause"]) for n in inbox) == [
        ("account_activated", "billing"),
        ("account_suspended", "billing"),
    ]
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    world.sink.wait_for(admin_address, "Ihr Konto ist aktiv")
    assert world.sink.messages(plain_address) == []


def test_staff_suspension_notifies_the_user_and_a_first_activation_does_not(world: World) -> None:
    user_id, address = world.user()
    world.feed(
        "identity.events",
        "user.activated",
        user_id,
        identity_events.UserStatusChanged(user_id=user_id, old_status="pending", new_status="active"),
    )
    assert _kinds(world, user_id) == []
    world.feed(
        "identity.events",
        "user.suspended",
        user_id,
        identity_events.UserStatusChanged(
            user_id=user_id, old_status="active", new_status="suspended", changed_by_user_id=1, reason="abuse report"
        ),
    )
    assert _kinds(world, user_id) == ["account_suspended"]
    mail_sender.run_once(world.support, world.recipients, SINK, POLICY)
    mail = world.sink.wait_for(address, "Your account was suspended")
    assert "Please contact support" in mail.body and "abuse report" not in mail.body
