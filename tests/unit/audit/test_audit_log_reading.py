"""The audit log's query rules without I/O: sort, pages, the tenant condition as SQL, login
attempts from entries, and which principals read every tenant (audit and gateway agree)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.dialects import mysql

from audit_service.adapters.authorization import current_reader
from audit_service.adapters.repository_audit_log import filter_conditions, order_by, tenant_condition
from audit_service.domain.audit_log import (
    NEWEST_FIRST,
    AuditLogEntry,
    AuditLogQuery,
    Reader,
    SortKey,
    login_attempt,
    page_of,
    parse_sort,
)
from cpshared.auth.principal import service_principal, user_principal
from cpshared.context import VerifiedPrincipal, principal_var
from cpshared.errors import InvalidInput
from gateway_service.auth import policy
from gateway_service.auth.principal import Principal, Role


def sql(clause: object) -> str:
    return str(clause.compile(dialect=mysql.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_sort_defaults_to_newest_first_and_refuses_unknown_fields() -> None:
    assert parse_sort([]) == NEWEST_FIRST
    assert parse_sort(["id:asc", "created:desc"]) == (SortKey("id"), SortKey("created", True))
    for bad in (["name"], ["id:up"], ["id", "id:desc"]):
        with pytest.raises(InvalidInput):
            parse_sort(bad)


def test_ordering_ends_with_the_id_in_the_last_direction() -> None:
    assert [sql(c) for c in order_by(NEWEST_FIRST)] == ["audit_logs.created_at DESC", "audit_logs.id DESC"]
    assert [sql(c) for c in order_by((SortKey("id"),))] == ["audit_logs.id ASC"]


def test_pages_default_to_25_and_stay_within_50() -> None:
    assert (page_of(0, 0).number, page_of(0, 0).size, page_of(3, 10).offset) == (1, 25, 20)
    for number, size in ((-1, 10), (1, 51), (1, -2)):
        with pytest.raises(InvalidInput):
            page_of(number, size)


def test_a_restricted_reader_is_a_where_condition_on_user_or_organizations() -> None:
    assert tenant_condition(Reader.unrestricted()) is None
    only_self = tenant_condition(Reader(everything=False, user_id=7))
    assert sql(only_self) == "audit_logs.user_id = 7"
    with_orgs = tenant_condition(Reader(everything=False, user_id=7, organization_ids=(1, 2)))
    assert sql(with_orgs) == "audit_logs.user_id = 7 OR audit_logs.organization_id IN (1, 2)"


def test_an_action_prefix_takes_wildcards_literally() -> None:
    (condition,) = filter_conditions(AuditLogQuery(action_prefix="a_b%"))
    assert "LIKE" in sql(condition) and "ESCAPE" in sql(condition)


def test_a_backwards_time_range_is_refused() -> None:
    with pytest.raises(InvalidInput, match="until"):
        AuditLogQuery(since=datetime(2026, 1, 2), until=datetime(2026, 1, 1)).check()


def test_a_login_attempt_takes_its_reason_and_ip_from_the_event_when_needed() -> None:
    failed = AuditLogEntry(
        id=1,
        action="user.login_failed",
        created_at=datetime(2026, 1, 1),
        event_type="user.login_failed",
        new_values={"ip": "192.0.2.1", "reason": "wrong_password"},
    )
    attempt = login_attempt(failed)
    assert (attempt.success, attempt.reason, attempt.ip_address) == (False, "wrong_password", "192.0.2.1")
    ok = AuditLogEntry(
        id=2,
        action="user.login_succeeded",
        created_at=datetime(2026, 1, 1),
        event_type="user.login_succeeded",
        ip_address="198.51.100.1",
    )
    assert (login_attempt(ok).success, login_attempt(ok).reason, login_attempt(ok).ip_address) == (
        True,
        "",
        "198.51.100.1",
    )


@pytest.mark.parametrize(
    ("role", "everything"), [("admin", True), ("support", True), ("billing", False), ("client", False)]
)
def test_admin_and_support_read_every_tenant_in_audit_and_at_the_gateway(role: str, everything: bool) -> None:
    token = principal_var.set(
        VerifiedPrincipal(
            user_principal(user_id=5, role=role, organizations={9: "owner", 10: "admin", 11: "member", 12: "billing"}),
            "token",
        )
    )
    try:
        reader = current_reader()
    finally:
        principal_var.reset(token)
    assert reader.everything is everything
    if not everything:
        # An organization's log is its owner's and admins'; a member or billing member reads its own entries.
        assert (reader.user_id, reader.organization_ids) == (5, (9, 10))
    gateway = Principal(
        user_id=5, api_key_id=1, role=Role(role), scopes=frozenset(), organization_id=None, rate_limit=1
    )
    assert policy.reaches_every_owner(gateway, policy.Family.AUDIT_LOGS, policy.Access.READ) is everything


def test_a_service_or_no_principal_reads_everything() -> None:
    assert current_reader().everything
    token = principal_var.set(VerifiedPrincipal(service_principal("gateway"), "token"))
    try:
        assert current_reader().everything
    finally:
        principal_var.reset(token)
