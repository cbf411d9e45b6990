"""Support tickets through the gateway, on MariaDB, the support service verifying every call's
principal as in the stack (tests/integration/live.py), on a controlled clock.

The whole life of a ticket: a customer opens one with an attachment, staff reply and add an
internal note, the customer never sees the note (API and event payloads), the customer replies,
staff resolve, the customer rates, and the ticket closes itself after the quiet period (the
keeper running in a thread, the clock moved). Then every bad input answers a 4xx and changes
nothing; another tenant's ticket is 404; an urgent ticket no one answered breaches its target.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from google.protobuf.json_format import MessageToDict

from audit_service.domain.records import audit_row
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.compute.v1 import events_pb2 as compute_events
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cpshared.clock import ManualClock
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import ReceivedEvent, new_event, record_headers
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from support_service.entrypoints import keeper
from support_service.entrypoints.notification_projection import NotificationProjection
from tests.clocks import installed_clock
from tests.integration.live import LivePlatform, live_platform

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PASSWORD = "support password 1234"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120
NOTE = "SECRET-NOTE: customer runs a known botnet, watch the abuse queue"
NUMBER = re.compile(r"^TKT-2026-\d{6}$")


@dataclass
class Caller:
    user_id: int
    key: str


@dataclass
class World:
    platform: LivePlatform
    clock: ManualClock
    customer: Caller
    other: Caller
    agent: Caller
    billing: Caller
    member_for_org: Caller
    owner_for_org: Caller
    owner_personal: Caller

    def call(self, method: str, path: str, caller: Caller | None, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {caller.key}"} if caller else {}
        return httpx.request(method, f"{self.platform.gateway}{path}", json=body, headers=headers, timeout=30)

    def staff_total(self) -> int:
        answer = self.call("GET", "/v1/admin/tickets", self.agent)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["meta"]["pagination"]["total_entries"])

    def outbox_payloads(self) -> list[tuple[str, bytes, dict[str, Any]]]:
        assert self.platform.support is not None
        with self.platform.support.engine.connect() as connection:
            rows = list(connection.execute(sa.select(outbox.c.event_type, outbox.c.envelope).order_by(outbox.c.id)))
        found = []
        for event_type, raw in rows:
            envelope = EventEnvelope.FromString(raw)
            payload = REGISTRY.spec(event_type).message()
            envelope.payload.Unpack(payload)
            found.append((event_type, bytes(raw), MessageToDict(payload, preserving_proto_field_name=True)))
        return found


def _user(platform: LivePlatform, role: UserRole = UserRole.CLIENT) -> int:
    email = f"t-{uuid.uuid4().hex[:10]}@example.com"
    cmd = commands.CreateUser(name="Ticket User", email=email, password=PASSWORD, role=role, status=UserStatus.ACTIVE)
    return users.create_user(cmd, platform.identity.uow()).id


def _key(platform: LivePlatform, user_id: int, organization_id: int | None = None) -> Caller:
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(
            user_id=user_id,
            name="tickets",
            scopes=("*:read", "*:write"),
            organization_id=organization_id,
            rate_limit=100_000,
        ),
        platform.identity.uow(),
    )
    return Caller(user_id, secret)


@pytest.fixture(scope="module")
def world(paths: LocalPaths) -> Iterator[World]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_tk_id") as identity_url,
        mariadb.scratch_database("cp_test_tk_gw") as gateway_url,
        mariadb.scratch_database("cp_test_tk_cp") as compute_url,
        mariadb.scratch_database("cp_test_tk_su") as support_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("support", migrations_dir("support"), support_url)
        with (
            installed_clock(START) as clock,
            live_platform(
                identity_url, gateway_url, clock=clock, compute_url=compute_url, support_url=support_url
            ) as platform,
        ):
            owner = _user(platform)
            member = _user(platform)
            slug = f"org-{uuid.uuid4().hex[:10]}"
            organization, _ = organizations.create_organization(
                commands.CreateOrganization(acting_user_id=owner, name=slug, slug=slug), platform.identity.uow()
            )
            organizations.add_member(
                commands.AddMember(
                    acting_user_id=owner, organization_id=organization.id, user_id=member, role=OrganizationRole.MEMBER
                ),
                platform.identity.uow(),
            )
            yield World(
                platform=platform,
                clock=clock,
                customer=_key(platform, _user(platform)),
                other=_key(platform, _user(platform)),
                agent=_key(platform, _user(platform, UserRole.SUPPORT)),
                billing=_key(platform, _user(platform, UserRole.BILLING)),
                member_for_org=_key(platform, member, organization.id),
                owner_for_org=_key(platform, owner, organization.id),
                owner_personal=_key(platform, owner),
            )


def _file(name: str, content: bytes) -> dict[str, str]:
    return {"file_name": name, "content": base64.b64encode(content).decode()}


def _open(world: World, caller: Caller, **fields: Any) -> httpx.Response:
    body = {"subject": "Server does not boot", "message": "It hangs at GRUB.", **fields}
    return world.call("POST", "/v1/tickets", caller, body)


def _wait_for(check: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.05)


def test_a_ticket_from_opening_to_closing_itself(world: World) -> None:
    customer, agent = world.customer, world.agent
    opened = _open(
        world,
        customer,
        subject="<script>alert(1)</script> boot loop",
        message="<b>help</b> it loops",
        priority="high",
        category="technical",
        attachments=[_file("screen.png", PNG)],
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()["ticket"]
    ticket_id = ticket["id"]
    assert NUMBER.match(ticket["ticket_number"])
    assert ticket["subject"] == "<script>alert(1)</script> boot loop"  # stored and answered as text
    assert (ticket["status"], ticket["priority"], ticket["satisfaction_rating"]) == ("open", "high", None)
    assert "assigned_to" not in ticket and "service_level" not in ticket  # staff's only
    [attachment] = opened.json()["message"]["attachments"]
    assert (attachment["file_name"], attachment["content_type"], attachment["size"]) == (
        "screen.png",
        "image/png",
        len(PNG),
    )

    # staff find it, take it, answer it and note something the customer must never see
    found = world.call("GET", "/v1/admin/tickets?status=open&q=boot%20loop", agent).json()["tickets"]
    assert [t["id"] for t in found] == [ticket_id]
    assert found[0]["service_level"]["first_response_breached"] is False
    assigned = world.call("POST", f"/v1/admin/tickets/{ticket_id}/assign", agent, {"assigned_to": agent.user_id})
    assert assigned.status_code == 200 and assigned.json()["ticket"]["assigned_to"] == agent.user_id
    not_staff = world.call(
        "POST", f"/v1/admin/tickets/{ticket_id}/assign", agent, {"assigned_to": world.billing.user_id}
    )
    assert not_staff.status_code == 400 and not_staff.json()["error"]["code"] == "invalid_input"
    nobody = world.call("POST", f"/v1/admin/tickets/{ticket_id}/assign", agent, {"assigned_to": 987_654_321})
    assert nobody.status_code == 400 and "does not exist" in nobody.json()["error"]["message"]
    world.clock.advance(timedelta(minutes=20))
    replied = world.call(
        "POST", f"/v1/admin/tickets/{ticket_id}/messages", agent, {"message": "Please boot the rescue system."}
    )
    assert replied.status_code == 201, replied.text
    assert replied.json()["ticket"]["status"] == "pending"
    noted = world.call(
        "POST",
        f"/v1/admin/tickets/{ticket_id}/notes",
        agent,
        {"message": NOTE, "attachments": [_file("log.txt", b"ip 198.51.100.7\n")]},
    )
    assert noted.status_code == 201 and noted.json()["message"]["is_internal_note"] is True
    note_attachment = noted.json()["message"]["attachments"][0]["id"]
    staff_thread = world.call("GET", f"/v1/admin/tickets/{ticket_id}/messages", agent).json()["messages"]
    assert [m["is_internal_note"] for m in staff_thread] == [False, False, True]

    # the customer's view: the reply, never the note, its text nor its file
    thread = world.call("GET", f"/v1/tickets/{ticket_id}/messages", customer)
    assert thread.status_code == 200
    assert [m["message"] for m in thread.json()["messages"]] == [
        "<b>help</b> it loops",
        "Please boot the rescue system.",
    ]
    assert NOTE not in thread.text and "is_internal_note" not in thread.text
    assert world.call("GET", f"/v1/tickets/{ticket_id}/attachments/{note_attachment}", customer).status_code == 404
    assert "SECRET" not in world.call("GET", "/v1/tickets?q=SECRET", customer).text
    assert world.call("GET", "/v1/tickets?q=SECRET", customer).json()["tickets"] == []
    download = world.call("GET", f"/v1/tickets/{ticket_id}/attachments/{attachment['id']}", customer)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert (
        world.call("GET", f"/v1/admin/tickets/{ticket_id}/attachments/{note_attachment}", agent).content
        == b"ip 198.51.100.7\n"
    )

    # rating before resolution: refused, nothing changed
    early = world.call("POST", f"/v1/tickets/{ticket_id}/rate", customer, {"rating": 5})
    assert 400 <= early.status_code < 500 and early.json()["error"]["code"]
    # the customer answers: support's turn again; staff resolve; the customer rates, once
    again = world.call(
        "POST", f"/v1/tickets/{ticket_id}/messages", customer, {"message": "Rescue works, disk is fine."}
    )
    assert again.status_code == 201 and again.json()["ticket"]["status"] == "open"
    resolved = world.call("POST", f"/v1/admin/tickets/{ticket_id}/status", agent, {"status": "resolved"})
    assert resolved.status_code == 200 and resolved.json()["ticket"]["status"] == "resolved"
    for bad in (0, 6, -3):
        refused = world.call("POST", f"/v1/tickets/{ticket_id}/rate", customer, {"rating": bad})
        assert 400 <= refused.status_code < 500
    rated = world.call("POST", f"/v1/tickets/{ticket_id}/rate", customer, {"rating": 5})
    assert rated.status_code == 200 and rated.json()["ticket"]["satisfaction_rating"] == 5
    assert world.call("POST", f"/v1/tickets/{ticket_id}/rate", customer, {"rating": 1}).status_code == 409

    # quiet for the quiet period: the keeper in support's process closes it
    support = world.platform.support
    assert support is not None
    stop = keeper.start(support, every_seconds=0.05)
    try:
        world.clock.advance(timedelta(hours=71))
        time.sleep(0.3)
        assert world.call("GET", f"/v1/tickets/{ticket_id}", customer).json()["ticket"]["status"] == "resolved"
        world.clock.advance(timedelta(hours=1, minutes=1))
        _wait_for(
            lambda: world.call("GET", f"/v1/tickets/{ticket_id}", customer).json()["ticket"]["status"] == "closed"
        )
    finally:
        stop.set()
    closed = world.call("POST", f"/v1/tickets/{ticket_id}/messages", customer, {"message": "one more thing"})
    assert closed.status_code in (409, 412, 422) and "new ticket" in closed.json()["error"]["message"]

    # the events: every step recorded, no message text in any payload, the note only announced
    events = [
        (t, raw, payload) for t, raw, payload in world.outbox_payloads() if payload.get("ticket_id") == str(ticket_id)
    ]
    types = [t for t, _, _ in events]
    for expected in (
        "ticket.opened",
        "ticket.assigned",
        "ticket.replied",
        "ticket.internal_note_added",
        "ticket.status_changed",
        "ticket.rated",
    ):
        assert expected in types
    for _, raw, payload in events:
        assert b"SECRET" not in raw and b"198.51.100.7" not in raw and b"rescue" not in raw
        assert "message" not in payload
    reasons = [p["reason"] for t, _, p in events if t == "ticket.status_changed"]
    assert reasons == ["staff_reply", "customer_reply", "staff", "quiet_period"]

    # the audit log records each of them as it records every stream's events: the action, the
    # ticket, who did it (never a message's text)
    actors: dict[str, int] = {}
    for event_type, raw, _ in events:
        envelope = EventEnvelope.FromString(raw)
        unpacked = REGISTRY.spec(event_type).message()
        envelope.payload.Unpack(unpacked)
        row = audit_row(ReceivedEvent("support.events", 0, 0, envelope, unpacked))
        assert (row["action"], row["resource_type"], row["resource_id"]) == (event_type, "ticket", ticket_id)
        assert "SECRET" not in repr(row["new_values"])
        actors.setdefault(event_type, envelope.actor.user_id)
    assert actors["ticket.opened"] == customer.user_id and actors["ticket.internal_note_added"] == agent.user_id


def test_bad_input_is_refused_and_changes_nothing(world: World) -> None:
    customer = world.customer
    before = world.staff_total()
    attempts = [
        _open(world, customer, message="x" * (10 * 1024 * 1024)),
        _open(world, customer, attachments=[_file("invoice.png", EXE)]),
        _open(world, customer, attachments=[_file("big.png", PNG + b"\x00" * (2 * 1024 * 1024))]),
        _open(
            world,
            customer,
            attachments=[_file("a.txt", b"a"), _file("b.txt", b"b"), _file("c.txt", b"c"), _file("d.txt", b"d")],
        ),
        _open(world, customer, attachments=[{"file_name": "x.png", "content": "not base64!"}]),
        _open(world, customer, status="closed"),
        _open(world, customer, assigned_to=world.agent.user_id),
        _open(world, customer, is_internal_note=True),
        _open(world, customer, category="urgent-money"),
        _open(world, customer, subject="two\nlines"),
        _open(world, customer, related_resource={"type": "volume", "id": 5}),
    ]
    for answer in attempts:
        assert 400 <= answer.status_code < 500, answer.text
        assert set(answer.json()["error"]) >= {"code", "message"}
    assert world.staff_total() == before

    # a related resource must be the caller's own
    theirs = world.call("POST", "/v1/placement_groups", world.other, {"name": "theirs", "type": "spread"})
    mine = world.call("POST", "/v1/placement_groups", customer, {"name": "mine", "type": "spread"})
    assert theirs.status_code == 201 and mine.status_code == 201
    foreign = _open(
        world, customer, related_resource={"type": "placement_group", "id": theirs.json()["placement_group"]["id"]}
    )
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "invalid_input"
    missing = _open(world, customer, related_resource={"type": "server", "id": 987_654_321})
    assert missing.status_code == 400 and "not one of your resources" in missing.json()["error"]["message"]
    assert world.staff_total() == before
    own = _open(
        world, customer, related_resource={"type": "placement_group", "id": mine.json()["placement_group"]["id"]}
    )
    assert own.status_code == 201
    ticket_id = own.json()["ticket"]["id"]
    assert own.json()["ticket"]["related_resource"] == {
        "type": "placement_group",
        "id": mine.json()["placement_group"]["id"],
    }

    # a customer cannot write a note, assign, or set a status, on any path
    messages_before = len(world.call("GET", f"/v1/admin/tickets/{ticket_id}/messages", world.agent).json()["messages"])
    sneaky = world.call(
        "POST", f"/v1/tickets/{ticket_id}/messages", customer, {"message": "hi", "is_internal_note": True}
    )
    assert sneaky.status_code == 400
    assert (
        world.call("POST", f"/v1/tickets/{ticket_id}/messages", customer, {"message": "x" * 10_001}).status_code == 400
    )
    for path, body in (
        (f"/v1/admin/tickets/{ticket_id}/notes", {"message": "mine"}),
        (f"/v1/admin/tickets/{ticket_id}/assign", {"assigned_to": customer.user_id}),
        (f"/v1/admin/tickets/{ticket_id}/status", {"status": "resolved"}),
    ):
        assert world.call("POST", path, customer, body).status_code == 403
    after = world.call("GET", f"/v1/admin/tickets/{ticket_id}", world.agent).json()["ticket"]
    assert (after["status"], after["assigned_to"]) == ("open", None)
    assert (
        len(world.call("GET", f"/v1/admin/tickets/{ticket_id}/messages", world.agent).json()["messages"])
        == messages_before
    )
    # staff's filters: assignee, customer, priority, category
    assigned = world.call(
        "POST", f"/v1/admin/tickets/{ticket_id}/assign", world.agent, {"assigned_to": world.agent.user_id}
    )
    assert assigned.status_code == 200
    billing_ticket = _open(world, world.other, category="billing", priority="low", subject="Invoice question")
    assert billing_ticket.status_code == 201
    other_id = billing_ticket.json()["ticket"]["id"]

    def staff_ids(query: str) -> set[int]:
        answer = world.call("GET", f"/v1/admin/tickets?{query}&per_page=50", world.agent)
        assert answer.status_code == 200, answer.text
        return {t["id"] for t in answer.json()["tickets"]}

    assigned_ids = staff_ids(f"assigned_to={world.agent.user_id}")
    assert ticket_id in assigned_ids and other_id not in assigned_ids
    assert ticket_id not in staff_ids("unassigned=true") and other_id in staff_ids("unassigned=true")
    assert staff_ids(f"user_id={world.other.user_id}") == {other_id}
    assert other_id in staff_ids("category=billing&priority=low") and ticket_id not in staff_ids("category=billing")
    assert staff_ids("q=Invoice%20question") == {other_id}
    assert world.call("GET", "/v1/admin/tickets?priority=extreme", world.agent).status_code == 400
    # a transition no helpdesk allows
    world.call("POST", f"/v1/admin/tickets/{ticket_id}/status", world.agent, {"status": "closed"})
    reopened = world.call("POST", f"/v1/admin/tickets/{ticket_id}/status", world.agent, {"status": "open"})
    assert 400 <= reopened.status_code < 500


def test_tenants_and_staff_roles(world: World) -> None:
    opened = _open(world, world.customer)
    ticket_id = opened.json()["ticket"]["id"]
    for method, path, body in (
        ("GET", f"/v1/tickets/{ticket_id}", None),
        ("GET", f"/v1/tickets/{ticket_id}/messages", None),
        ("POST", f"/v1/tickets/{ticket_id}/messages", {"message": "hijack"}),
        ("POST", f"/v1/tickets/{ticket_id}/close", None),
        ("GET", f"/v1/tickets/{ticket_id}/attachments/1", None),
    ):
        answer = world.call(method, path, world.other, body)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", (path, answer.text)
    assert ticket_id not in [t["id"] for t in world.call("GET", "/v1/tickets", world.other).json()["tickets"]]
    # the helpdesk is for admins and support staff
    for caller in (world.customer, world.billing):
        answer = world.call("GET", "/v1/admin/tickets", caller)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert world.call("GET", "/v1/admin/tickets", None).status_code == 401
    # an organization's ticket: its members reach it (with a key for the organization), not personally
    org_ticket = _open(world, world.member_for_org, subject="Org server")
    assert org_ticket.status_code == 201, org_ticket.text
    org_id = org_ticket.json()["ticket"]["id"]
    assert org_ticket.json()["ticket"]["organization_id"] is not None
    assert world.call("GET", f"/v1/tickets/{org_id}", world.owner_for_org).status_code == 200
    assert world.call("GET", f"/v1/tickets/{org_id}", world.owner_personal).status_code == 404
    assert world.call("GET", f"/v1/tickets/{org_id}", world.customer).status_code == 404
    # customers close their own; closed is final
    closed = world.call("POST", f"/v1/tickets/{ticket_id}/close", world.customer)
    assert closed.status_code == 200 and closed.json()["ticket"]["status"] == "closed"
    assert world.call("POST", f"/v1/tickets/{ticket_id}/reopen", world.customer).status_code in (409, 412, 422)


def test_an_unanswered_urgent_ticket_breaches_its_first_response_target(world: World) -> None:
    support = world.platform.support
    assert support is not None
    opened = _open(world, world.customer, priority="urgent", subject="Everything is down")
    ticket_id = opened.json()["ticket"]["id"]
    world.clock.advance(timedelta(minutes=29))
    keeper.run_once(support)
    assert (
        world.call("GET", f"/v1/admin/tickets/{ticket_id}", world.agent).json()["ticket"]["service_level"][
            "first_response_breached"
        ]
        is False
    )
    world.clock.advance(timedelta(minutes=2))
    report = keeper.run_once(support)
    assert report.tickets is not None and (ticket_id, "first_response") in report.tickets.breaches
    ticket = world.call("GET", f"/v1/admin/tickets/{ticket_id}", world.agent).json()["ticket"]
    assert ticket["service_level"]["first_response_breached"] is True
    breached = world.call("GET", "/v1/admin/tickets?breached=true", world.agent).json()["tickets"]
    assert ticket_id in [t["id"] for t in breached]
    breaches = [
        p for t, _, p in world.outbox_payloads() if t == "ticket.sla_breached" and p.get("ticket_id") == str(ticket_id)
    ]
    assert [b["target"] for b in breaches] == ["first_response"]
    keeper.run_once(support)  # recorded once
    assert (
        len(
            [
                p
                for t, _, p in world.outbox_payloads()
                if t == "ticket.sla_breached" and p.get("ticket_id") == str(ticket_id)
            ]
        )
        == 1
    )


def test_the_clock_stops_while_a_ticket_waits_on_the_customer(world: World) -> None:
    """An urgent ticket answered and pending for a day breaches nothing; once the customer
    writes back, its resolution target (8 h) counts on from where it stopped."""
    support = world.platform.support
    assert support is not None
    opened = _open(world, world.customer, priority="urgent", subject="Slow disk")
    ticket_id = opened.json()["ticket"]["id"]
    world.clock.advance(timedelta(minutes=10))
    answer = {"message": "Which volume?"}
    assert world.call("POST", f"/v1/admin/tickets/{ticket_id}/messages", world.agent, answer).status_code == 201
    world.clock.advance(timedelta(days=1))
    report = keeper.run_once(support)
    assert report.tickets is not None and ticket_id not in [t for t, _ in report.tickets.breaches]
    level = world.call("GET", f"/v1/admin/tickets/{ticket_id}", world.agent).json()["ticket"]["service_level"]
    assert level["resolution_breached"] is False
    assert (
        world.call("POST", f"/v1/tickets/{ticket_id}/messages", world.customer, {"message": "vol-1"}).status_code == 201
    )
    world.clock.advance(timedelta(hours=7, minutes=49))  # 7 h 59 min of the 8 h counted
    report = keeper.run_once(support)
    assert report.tickets is not None and ticket_id not in [t for t, _ in report.tickets.breaches]
    world.clock.advance(timedelta(minutes=2))
    report = keeper.run_once(support)
    assert report.tickets is not None and (ticket_id, "resolution") in report.tickets.breaches


def test_ticket_numbers_have_no_gaps(world: World) -> None:
    answer = world.call("GET", "/v1/admin/tickets?sort=id:asc&per_page=50", world.agent).json()
    numbers = [int(t["ticket_number"].rsplit("-", 1)[1]) for t in answer["tickets"]]
    assert numbers == list(range(1, len(numbers) + 1))


def _window_body(world: World, start: timedelta, end: timedelta, **fields: Any) -> dict[str, Any]:
    now = world.clock.now()
    return {
        "title": "Storage network upgrade",
        "description": "<i>Volumes may be slow.</i>",
        "type": "planned",
        "affected_services": ["volumes", "backups"],
        "affected_datacenters": ["fsn1-dc14"],
        "start_time": (now + start).isoformat(),
        "end_time": (now + end).isoformat(),
        **fields,
    }


def _window(world: World, start: timedelta, end: timedelta, **fields: Any) -> httpx.Response:
    return world.call("POST", "/v1/admin/maintenance_windows", world.agent, _window_body(world, start, end, **fields))


def test_maintenance_windows_move_with_the_clock_and_the_public_sees_the_current_ones(world: World) -> None:
    support = world.platform.support
    assert support is not None
    created = _window(world, timedelta(hours=1), timedelta(hours=3))
    assert created.status_code == 201, created.text
    window = created.json()["maintenance_window"]
    assert (window["status"], window["created_by"]) == ("scheduled", world.agent.user_id)
    other = _window(world, timedelta(hours=2), timedelta(hours=4), title="Emergency router swap", type="emergency")
    assert other.status_code == 201
    cancelled = world.call(
        "POST", f"/v1/admin/maintenance_windows/{other.json()['maintenance_window']['id']}/cancel", world.agent
    )
    assert cancelled.status_code == 200 and cancelled.json()["maintenance_window"]["status"] == "cancelled"

    # the public list: no credentials, the scheduled and running ones, without who made them
    public = httpx.get(f"{world.platform.gateway}/v1/maintenance_windows", timeout=10)
    assert public.status_code == 200
    listed = [w for w in public.json()["maintenance_windows"] if w["id"] == window["id"]]
    assert len(listed) == 1 and "created_by" not in listed[0]
    assert other.json()["maintenance_window"]["id"] not in [w["id"] for w in public.json()["maintenance_windows"]]

    # staff only write; customers and billing staff are refused, nothing changes
    def total() -> int:
        answer = world.call("GET", "/v1/admin/maintenance_windows", world.agent)
        return int(answer.json()["meta"]["pagination"]["total_entries"])

    before = total()
    for caller in (world.customer, world.billing):
        body = _window_body(world, timedelta(hours=1), timedelta(hours=2))
        assert world.call("POST", "/v1/admin/maintenance_windows", caller, body).status_code == 403
        assert (
            world.call("PUT", f"/v1/admin/maintenance_windows/{window['id']}", caller, {"title": "x"}).status_code
            == 403
        )
    assert httpx.post(f"{world.platform.gateway}/v1/admin/maintenance_windows", json={}, timeout=10).status_code == 401
    assert total() == before
    # bad windows: ends before it starts, in the past, an unknown service or datacenter
    for bad in (
        _window(world, timedelta(hours=3), timedelta(hours=1)),
        _window(world, timedelta(hours=-3), timedelta(hours=-1)),
        _window(world, timedelta(hours=1), timedelta(hours=2), affected_services=["toasters"]),
        _window(world, timedelta(hours=1), timedelta(hours=2), affected_datacenters=["../etc"]),
        _window(world, timedelta(hours=1), timedelta(hours=2), status="completed"),
    ):
        assert 400 <= bad.status_code < 500, bad.text
    assert total() == before

    moved = world.call(
        "PUT",
        f"/v1/admin/maintenance_windows/{window['id']}",
        world.agent,
        {"title": "Storage network upgrade (phase 1)"},
    )
    assert moved.status_code == 200 and moved.json()["maintenance_window"]["title"].endswith("(phase 1)")
    world.clock.advance(timedelta(hours=1, minutes=1))
    assert (window["id"], "in_progress") in keeper.run_once(support).maintenance
    running = world.call("GET", f"/v1/admin/maintenance_windows/{window['id']}", world.agent).json()[
        "maintenance_window"
    ]
    assert running["status"] == "in_progress"
    late_start = world.call(
        "PUT",
        f"/v1/admin/maintenance_windows/{window['id']}",
        world.agent,
        {"start_time": (world.clock.now() + timedelta(hours=1)).isoformat()},
    )
    assert late_start.status_code == 412
    world.clock.advance(timedelta(hours=2))
    assert (window["id"], "completed") in keeper.run_once(support).maintenance
    assert window["id"] not in [
        w["id"]
        for w in httpx.get(f"{world.platform.gateway}/v1/maintenance_windows", timeout=10).json()["maintenance_windows"]
    ]
    assert world.call("POST", f"/v1/admin/maintenance_windows/{window['id']}/cancel", world.agent).status_code == 412
    types = [t for t, _, p in world.outbox_payloads() if p.get("maintenance_window_id") == str(window["id"])]
    assert types == ["maintenance.scheduled", "maintenance.updated", "maintenance.started", "maintenance.completed"]


def test_the_customer_hears_of_staff_replies_and_resolutions_in_the_inbox_never_of_notes(world: World) -> None:
    """support's own events through the real projection runner, as support-consumer applies them
    (a second delivery of the same records notifies nobody twice)."""
    support = world.platform.support
    assert support is not None
    opened = _open(world, world.customer, subject="Inbox please")
    ticket_id = opened.json()["ticket"]["id"]
    agent = world.agent
    assert world.call("POST", f"/v1/admin/tickets/{ticket_id}/notes", agent, {"message": NOTE}).status_code == 201
    assert (
        world.call("POST", f"/v1/admin/tickets/{ticket_id}/messages", agent, {"message": "Fixed."}).status_code == 201
    )
    resolved = world.call("POST", f"/v1/admin/tickets/{ticket_id}/status", agent, {"status": "resolved"})
    assert resolved.status_code == 200
    records = [
        RawRecord(
            "support.events", 0, offset, str(ticket_id).encode(), raw, record_headers(EventEnvelope.FromString(raw))
        )
        for offset, (_, raw, _) in enumerate(world.outbox_payloads())
    ]
    runner = ProjectionRunner(support.engine, NotificationProjection())
    runner.apply_batch(records)
    runner.apply_batch(records)  # redelivered

    inbox = world.call("GET", "/v1/notifications?unread=true", world.customer)
    assert inbox.status_code == 200, inbox.text
    mine = [n for n in inbox.json()["notifications"] if n["data"]["ticket_id"] == ticket_id]
    assert sorted(n["type"] for n in mine) == ["ticket_replied", "ticket_resolved"]
    assert all(n["data"]["subject"] == "Inbox please" for n in mine)
    assert NOTE not in inbox.text
    unread = inbox.json()["meta"]["unread"]
    assert unread >= 2
    # another user's inbox has none of it, and cannot mark it
    assert all(
        n["data"]["ticket_id"] != ticket_id
        for n in world.call("GET", "/v1/notifications", world.other).json()["notifications"]
    )
    assert world.call("POST", f"/v1/notifications/{mine[0]['id']}/read", world.other).status_code == 404
    read = world.call("POST", f"/v1/notifications/{mine[0]['id']}/read", world.customer)
    assert read.status_code == 200 and read.json()["notification"]["read"] is not None
    assert world.call("GET", "/v1/notifications", world.customer).json()["meta"]["unread"] == unread - 1
    marked = world.call("POST", "/v1/notifications/read_all", world.customer)
    assert marked.status_code == 200 and marked.json()["marked"] == unread - 1
    assert world.call("GET", "/v1/notifications?unread=true", world.customer).json()["notifications"] == []
    assert world.call("POST", "/v1/notifications/not-a-uuid/read", world.customer).status_code == 400


def _compute_records(*payloads: Any) -> list[RawRecord]:
    records = []
    for offset, payload in enumerate(payloads):
        event_type = "server.created" if isinstance(payload, compute_events.ServerCreated) else "server.deleted"
        event = new_event(
            REGISTRY.spec(event_type),
            producer="compute",
            aggregate_id=payload.server_id,
            aggregate_version=1,
            payload=payload,
        )
        records.append(
            RawRecord(
                "compute.events", 0, 10_000 + offset, event.key, event.envelope.SerializeToString(), event.headers()
            )
        )
    return records


def _support_records(world: World, since: int = 0) -> list[RawRecord]:
    return [
        RawRecord("support.events", 1, offset, b"k", raw, record_headers(EventEnvelope.FromString(raw)))
        for offset, (_, raw, _) in enumerate(world.outbox_payloads())
        if offset >= since
    ]


def test_a_maintenance_window_notifies_exactly_the_customers_with_servers_there(world: World) -> None:
    support = world.platform.support
    assert support is not None
    runner = ProjectionRunner(support.engine, NotificationProjection())
    runner.apply_batch(
        _compute_records(
            compute_events.ServerCreated(server_id=901, user_id=world.customer.user_id, datacenter="fsn1-dc14"),
            compute_events.ServerCreated(server_id=902, user_id=world.other.user_id, datacenter="nbg1-dc3"),
            compute_events.ServerCreated(server_id=903, user_id=world.agent.user_id, datacenter="fsn1-dc8"),
        )
    )
    already = len(world.outbox_payloads())
    created = _window(world, timedelta(hours=1), timedelta(hours=2), affected_datacenters=["fsn1-dc14"])
    assert created.status_code == 201, created.text
    window_id = created.json()["maintenance_window"]["id"]
    world.clock.advance(timedelta(hours=1, minutes=1))
    keeper.run_once(support)
    world.clock.advance(timedelta(hours=1))
    keeper.run_once(support)
    records = _support_records(world, already)
    runner.apply_batch(records)
    runner.apply_batch(records)  # redelivered: nobody hears twice

    def heard(caller: Caller) -> list[str]:
        answer = world.call("GET", "/v1/notifications?per_page=50", caller)
        assert answer.status_code == 200, answer.text
        return [
            n["type"] for n in answer.json()["notifications"] if n["data"].get("maintenance_window_id") == window_id
        ]

    assert sorted(heard(world.customer)) == ["maintenance_completed", "maintenance_scheduled", "maintenance_started"]
    assert heard(world.other) == []  # a server elsewhere
    assert heard(world.agent) == []  # another datacenter of the same location

    # a deleted server is no longer there
    runner.apply_batch(_compute_records(compute_events.ServerDeleted(server_id=901, user_id=world.customer.user_id)))
    already = len(world.outbox_payloads())
    later = _window(world, timedelta(hours=1), timedelta(hours=2), affected_datacenters=["fsn1"])
    assert later.status_code == 201
    runner.apply_batch(_support_records(world, already))
    later_id = later.json()["maintenance_window"]["id"]
    inbox = world.call("GET", "/v1/notifications?per_page=50", world.customer).json()["notifications"]
    assert all(n["data"].get("maintenance_window_id") != later_id for n in inbox)
    staff_inbox = world.call("GET", "/v1/notifications?per_page=50", world.agent).json()["notifications"]
    assert [n["type"] for n in staff_inbox if n["data"].get("maintenance_window_id") == later_id] == [
        "maintenance_scheduled"
    ]


def test_notification_preferences_are_the_callers_own_and_checked(world: World) -> None:
    answer = world.call("GET", "/v1/notifications/preferences", world.owner_personal)
    assert answer.status_code == 200, answer.text
    defaults = answer.json()["preferences"]
    assert {"kind": "ticket_replied", "channel": "email", "enabled": True} in defaults
    assert all(p["enabled"] for p in defaults)
    off = {"preferences": [{"kind": "ticket_replied", "channel": "email", "enabled": False}]}
    changed = world.call("PUT", "/v1/notifications/preferences", world.owner_personal, off)
    assert changed.status_code == 200, changed.text
    assert {"kind": "ticket_replied", "channel": "email", "enabled": False} in changed.json()["preferences"]
    assert {"kind": "ticket_replied", "channel": "in_app", "enabled": True} in changed.json()["preferences"]
    # another user's are untouched
    theirs = world.call("GET", "/v1/notifications/preferences", world.other).json()["preferences"]
    assert all(p["enabled"] for p in theirs)
    bad_bodies: list[dict[str, Any]] = [
        {"preferences": [{"kind": "no_such_kind", "channel": "email", "enabled": False}]},
        {"preferences": [{"kind": "ticket_replied", "channel": "sms", "enabled": False}]},
        {"preferences": [{"kind": "ticket_replied", "channel": "email", "enabled": False, "user_id": 1}]},
        {"preferences": []},
        {"user_id": world.other.user_id},
    ]
    for bad in bad_bodies:
        refused = world.call("PUT", "/v1/notifications/preferences", world.owner_personal, bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"]["code"] == "invalid_input"
    after = world.call("GET", "/v1/notifications/preferences", world.owner_personal).json()["preferences"]
    assert after == changed.json()["preferences"]
    assert world.call("GET", "/v1/notifications/preferences", None).status_code == 401


def test_webhook_secrets_are_the_accounts_own_and_rotate(world: World) -> None:
    path = "/v1/notifications/webhook_secret"
    mine = world.call("GET", path, world.customer)
    assert mine.status_code == 200, mine.text
    secret = mine.json()["webhook_secret"]
    assert secret["account_type"] == "user" and secret["account_id"] == world.customer.user_id
    assert secret["secret"].startswith("whsec_") and len(secret["secret"]) == 70
    assert world.call("GET", path, world.customer).json()["webhook_secret"] == secret  # made once
    theirs = world.call("GET", path, world.other).json()["webhook_secret"]
    assert theirs["secret"] != secret["secret"] and theirs["account_id"] == world.other.user_id
    rotated = world.call("POST", f"{path}/rotate", world.customer)
    assert rotated.status_code == 200 and rotated.json()["webhook_secret"]["secret"] != secret["secret"]
    assert world.call("GET", path, world.customer).json() == rotated.json()
    # an organization's: its owner's key bound to it sees it; a plain member's is refused
    organization = world.call("GET", path, world.owner_for_org).json()["webhook_secret"]
    assert organization["account_type"] == "organization"
    assert organization["secret"] != world.call("GET", path, world.owner_personal).json()["webhook_secret"]["secret"]
    refused = world.call("POST", f"{path}/rotate", world.member_for_org)
    assert refused.status_code == 403, refused.text
    assert world.call("GET", path, world.owner_for_org).json()["webhook_secret"] == organization
    assert world.call("GET", path, None).status_code == 401
