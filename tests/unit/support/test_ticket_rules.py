"""The ticket aggregate's rules: statuses, replies, rating, service levels, the quiet period;
what may be attached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cpshared.errors import Conflict, InvalidInput, PreconditionFailed
from support_service.config import default_rules
from support_service.domain.attachments import AttachmentLimits, check_uploads, sniff
from support_service.domain.notifications import TICKET_REPLIED, TICKET_RESOLVED, for_reply, for_status
from support_service.domain.tickets import (
    CLOSED,
    OPEN,
    PENDING,
    RESOLVED,
    Ticket,
    check_message,
    check_related,
    check_subject,
    ticket_number,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = default_rules().policy
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def _ticket(priority: str = "normal") -> Ticket:
    ticket = Ticket(
        id=7,
        user_id=42,
        organization_id=None,
        ticket_number="TKT-2026-000007",
        subject="s",
        category="technical",
        priority=priority,
        created_at=T0,
    )
    return ticket


def _types(ticket: Ticket) -> list[str]:
    return [e.event_type for e in ticket.pop_events()]


def test_numbers_have_the_year_and_six_digits() -> None:
    assert ticket_number(2026, 1) == "TKT-2026-000001"
    assert ticket_number(2026, 123456) == "TKT-2026-123456"


def test_a_staff_reply_hands_the_ticket_to_the_customer_and_a_customer_reply_back() -> None:
    ticket = _ticket()
    ticket.replied(1, True, 10, 0, T0 + timedelta(minutes=5))
    assert ticket.status == PENDING and ticket.first_response_at == T0 + timedelta(minutes=5)
    assert _types(ticket) == ["ticket.status_changed", "ticket.replied"]
    ticket.replied(42, False, 11, 0, T0 + timedelta(minutes=6))
    assert ticket.status == OPEN
    ticket.change_status(RESOLVED, "staff", T0 + timedelta(hours=1))
    assert ticket.resolved_at == T0 + timedelta(hours=1)
    ticket.replied(42, False, 12, 0, T0 + timedelta(hours=2))  # a customer's reply reopens it
    assert ticket.status == OPEN and ticket.resolved_at is None


def test_closed_is_final() -> None:
    ticket = _ticket()
    ticket.close("customer", T0)
    assert ticket.status == CLOSED and ticket.closed_at == T0
    with pytest.raises(PreconditionFailed):
        ticket.replied(42, False, 1, 0, T0)
    with pytest.raises(PreconditionFailed):
        ticket.reopen("customer", T0)
    with pytest.raises(PreconditionFailed):
        ticket.change_status(OPEN, "staff", T0)


def test_only_a_resolved_ticket_reopens() -> None:
    ticket = _ticket()
    with pytest.raises(PreconditionFailed):
        ticket.reopen("customer", T0)
    ticket.change_status(RESOLVED, "staff", T0)
    ticket.reopen("customer", T0)
    assert ticket.status == OPEN


def test_rating_once_resolved_once_and_within_1_to_5() -> None:
    ticket = _ticket()
    with pytest.raises(PreconditionFailed):
        ticket.rate(5)
    ticket.change_status(RESOLVED, "staff", T0)
    for bad in (0, 6, -1):
        with pytest.raises(InvalidInput):
            ticket.rate(bad)
    ticket.rate(4)
    with pytest.raises(Conflict):
        ticket.rate(5)
    assert ticket.satisfaction_rating == 4


def test_the_quiet_period_closes_a_resolved_ticket() -> None:
    ticket = _ticket()
    ticket.change_status(RESOLVED, "staff", T0)
    assert not ticket.close_if_quiet(POLICY, T0 + POLICY.quiet_period - timedelta(seconds=1))
    assert ticket.close_if_quiet(POLICY, T0 + POLICY.quiet_period)
    assert ticket.status == CLOSED


def test_breaches_are_recorded_once_each() -> None:
    ticket = _ticket("urgent")
    due = POLICY.first_response["urgent"]
    assert ticket.record_breaches(POLICY, T0 + due) == []
    assert ticket.record_breaches(POLICY, T0 + due + timedelta(seconds=1)) == ["first_response"]
    assert ticket.record_breaches(POLICY, T0 + due + timedelta(minutes=5)) == []
    level = ticket.service_level(POLICY, T0 + due + timedelta(minutes=5))
    assert level.first_response_breached and not level.resolution_breached
    late = T0 + POLICY.resolution["urgent"] + timedelta(seconds=1)
    assert ticket.record_breaches(POLICY, late) == ["resolution"]


def test_subjects_and_messages_are_text() -> None:
    assert check_subject("<script>alert(1)</script>") == "<script>alert(1)</script>"
    for bad in ("", "   ", "a\nb", "x" * 256):
        with pytest.raises(InvalidInput):
            check_subject(bad)
    for bad in ("", "x" * 10_001, "nul\x00byte"):
        with pytest.raises(InvalidInput):
            check_message(bad)
    assert check_message("line\n\tindented") == "line\n\tindented"


def test_related_resources() -> None:
    assert check_related("", 0) == (None, None)
    assert check_related("server", 5) == ("server", 5)
    for kind, ident in (("volume", 5), ("server", 0), ("", 5)):
        with pytest.raises(InvalidInput):
            check_related(kind, ident)


def test_attachments_are_sniffed_and_limited() -> None:
    limits = AttachmentLimits(max_bytes=1000, max_count=2)
    assert sniff(PNG) == "image/png"
    assert sniff(b"MZ\x90\x00" + b"\x00" * 60) != "image/png"
    [upload] = check_uploads([("../../etc/shot.png", PNG)], limits)
    assert (upload.file_name, upload.content_type, upload.size) == ("shot.png", "image/png", len(PNG))
    assert check_uploads([("notes.txt", "héllo\n".encode())], limits)[0].content_type == "text/plain"
    with pytest.raises(InvalidInput, match="attach only"):
        check_uploads([("evil.png", b"MZ\x90\x00" + b"\x00" * 60)], limits)  # a program named .png
    with pytest.raises(InvalidInput, match="at most 1000"):
        check_uploads([("big.png", PNG + b"\x00" * 1000)], limits)
    with pytest.raises(InvalidInput, match="at most 2"):
        check_uploads([("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c")], limits)
    with pytest.raises(InvalidInput):
        check_uploads([("a\x00.txt", b"a")], limits)


def test_who_hears_of_what() -> None:
    ticket = _ticket()
    [replied] = for_reply("e-1", ticket, 9, from_staff=True)
    assert (replied.type, replied.notifiable_id, replied.data["message_id"]) == (TICKET_REPLIED, 42, 9)
    assert for_reply("e-2", ticket, 10, from_staff=False) == []  # the customer's own reply
    assert for_status("e-3", ticket, PENDING) == []
    [resolved] = for_status("e-4", ticket, RESOLVED)
    assert resolved.type == TICKET_RESOLVED
    assert for_reply("e-1", ticket, 9, from_staff=True)[0].id == replied.id  # the same event, the same id


def test_the_resolution_clock_stops_while_the_ticket_waits_on_the_customer() -> None:
    ticket = _ticket("urgent")  # resolution due 8 hours after the opening
    due = POLICY.resolution["urgent"]
    ticket.replied(1, True, 10, 0, T0 + timedelta(minutes=10))  # open → pending: the clock stops
    assert ticket.status == PENDING and ticket.pending_since == T0 + timedelta(minutes=10)
    # a day waiting on the customer breaches nothing, and moves the due time by the wait
    assert ticket.record_breaches(POLICY, T0 + timedelta(days=1)) == []
    level = ticket.service_level(POLICY, T0 + timedelta(days=1))
    assert level.resolution_due_at == T0 + due + timedelta(days=1) - timedelta(minutes=10)
    assert not level.resolution_breached
    ticket.replied(42, False, 11, 0, T0 + timedelta(hours=4, minutes=10))  # back to open after 4 h pending
    assert ticket.status == OPEN and ticket.pending_since is None
    assert ticket.sla_paused_seconds == 4 * 3600
    resumed_due = T0 + due + timedelta(hours=4)
    assert ticket.service_level(POLICY, resumed_due).resolution_due_at == resumed_due
    assert ticket.record_breaches(POLICY, resumed_due) == []
    assert ticket.record_breaches(POLICY, resumed_due + timedelta(seconds=1)) == ["resolution"]


def test_staff_setting_pending_stops_the_first_response_clock_too() -> None:
    ticket = _ticket("urgent")  # first response due 30 minutes after the opening
    ticket.change_status(PENDING, "waiting_on_customer", T0 + timedelta(minutes=20))
    assert ticket.record_breaches(POLICY, T0 + timedelta(hours=2)) == []
    ticket.change_status(OPEN, "customer_answered", T0 + timedelta(hours=2, minutes=20))
    assert ticket.record_breaches(POLICY, T0 + timedelta(hours=2, minutes=30)) == []
    assert ticket.record_breaches(POLICY, T0 + timedelta(hours=2, minutes=30, seconds=1)) == ["first_response"]


def test_a_related_resource_must_be_the_openers_own() -> None:
    from support_service.domain.tickets import check_related_owner

    check_related_owner("server", 5, (42, None), 42, None)  # the user's own
    check_related_owner("server", 5, (7, 900), 42, 900)  # the organization's, for the organization
    for owner, user_id, organization_id in (
        (None, 42, None),  # no such resource
        ((43, None), 42, None),  # another user's
        ((42, None), 42, 900),  # the user's own, while acting for an organization
        ((42, 900), 42, None),  # the organization's, while acting for oneself
        ((42, 901), 42, 900),  # another organization's
    ):
        with pytest.raises(InvalidInput, match="not one of your resources"):
            check_related_owner("server", 5, owner, user_id, organization_id)


def test_a_ticket_is_assigned_to_staff_only() -> None:
    from support_service.domain.tickets import check_assignee

    check_assignee(3, "support")
    check_assignee(3, "admin")
    with pytest.raises(InvalidInput, match="does not exist"):
        check_assignee(3, None)
    for role in ("client", "billing"):
        with pytest.raises(InvalidInput, match="not support staff"):
            check_assignee(3, role)
