"""The AuditService over real gRPC with principal verification on, on a scratch audit
database whose audit_logs rows the tests write as the projection would."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from audit_service.bootstrap import Audit
from cloudplatform.audit.v1 import audit_service_pb2 as pb
from cloudplatform.audit.v1 import audit_service_pb2_grpc as pb_grpc
from tests.integration.audit.conftest import BASE_TIME, as_service, as_user, insert_entry

ALICE, BOB, CAROL = 101, 202, 303
ORG_A, ORG_B = 11, 22


def stamp(minutes: int) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(BASE_TIME + timedelta(minutes=minutes))
    return result


async def ids(
    stub: pb_grpc.AuditServiceAsyncStub, metadata: tuple[tuple[str, str], ...], **filters: object
) -> list[int]:
    answer = await stub.ListAuditLogs(pb.ListAuditLogsRequest(**filters), metadata=metadata)  # type: ignore[arg-type]
    return [e.id for e in answer.entries]


@pytest.fixture
def tenants(audit: Audit) -> dict[str, int]:
    """Alice in A, Bob in B, Carol with no organization; one request and what it caused."""
    e = audit.engine
    return {
        "alice_key": insert_entry(
            e,
            user_id=ALICE,
            organization_id=ORG_A,
            action="api_key.created",
            resource_type="api_key",
            resource_id=7,
            new_values={"name": "ci", "scopes": ["servers:read"]},
            request_id="req-alice-1",
            ip_address="203.0.113.5",
            user_agent="hcloud/1.0",
            api_key_id=3,
            minutes=1,
        ),
        "alice_request": insert_entry(
            e,
            user_id=ALICE,
            organization_id=ORG_A,
            action="request",
            event_type="request.completed",
            stream="gateway.requests",
            chain_id="gateway.requests/0",
            request_id="req-alice-1",
            response_code=201,
            duration_ms=12,
            minutes=2,
        ),
        "org_a_update": insert_entry(e, user_id=ALICE, organization_id=ORG_A, action="organization.updated", minutes=3),
        "bob_org": insert_entry(e, user_id=BOB, organization_id=ORG_B, action="organization.created", minutes=4),
        "bob_key": insert_entry(e, user_id=BOB, organization_id=ORG_B, action="api_key.created", minutes=5),
        "carol_alone": insert_entry(e, user_id=CAROL, action="user.profile_updated", minutes=6),
        "system": insert_entry(e, action="settings.changed", minutes=7),
    }


async def test_a_service_sees_every_entry_newest_first_with_every_column(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]
) -> None:
    answer = await stub.ListAuditLogs(pb.ListAuditLogsRequest(), metadata=as_service())
    assert [e.id for e in answer.entries] == sorted(tenants.values(), reverse=True)
    assert answer.total_entries == len(tenants) and answer.page == 1 and answer.per_page == 25
    key = next(e for e in answer.entries if e.id == tenants["alice_key"])
    assert (key.user_id, key.organization_id, key.action, key.resource_type, key.resource_id) == (
        ALICE,
        ORG_A,
        "api_key.created",
        "api_key",
        7,
    )
    assert json.loads(key.new_values) == {"name": "ci", "scopes": ["servers:read"]} and key.old_values == ""
    assert (key.ip_address, key.user_agent, key.api_key_id, key.request_id) == (
        "203.0.113.5",
        "hcloud/1.0",
        3,
        "req-alice-1",
    )
    assert key.created_at.ToDatetime() == BASE_TIME + timedelta(minutes=1) and key.event_type == "api_key.created"
    request = next(e for e in answer.entries if e.id == tenants["alice_request"])
    assert (request.action, request.response_code, request.duration_ms) == ("request", 201, 12)


async def test_filters_combine_and_each_narrows(stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]) -> None:
    svc = as_service()
    assert await ids(stub, svc, user_id=BOB) == [tenants["bob_key"], tenants["bob_org"]]
    assert await ids(stub, svc, organization_id=ORG_A, action="api_key.created") == [tenants["alice_key"]]
    assert await ids(stub, svc, action_prefix="organization.") == [tenants["bob_org"], tenants["org_a_update"]]
    assert await ids(stub, svc, action_prefix="api_key%") == []  # wildcards are literal
    assert await ids(stub, svc, resource_type="api_key", resource_id=7) == [tenants["alice_key"]]
    assert await ids(stub, svc, request_id="req-alice-1") == [tenants["alice_request"], tenants["alice_key"]]
    assert await ids(stub, svc, since=stamp(3), until=stamp(5)) == [tenants["bob_org"], tenants["org_a_update"]]


async def test_pages_and_sort_orders(stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]) -> None:
    svc = as_service()
    everything = sorted(tenants.values())
    first = await stub.ListAuditLogs(pb.ListAuditLogsRequest(per_page=3, sort=["id:asc"]), metadata=svc)
    third = await stub.ListAuditLogs(pb.ListAuditLogsRequest(per_page=3, page=3, sort=["id"]), metadata=svc)
    assert [e.id for e in first.entries] == everything[:3] and first.total_entries == len(everything)
    assert [e.id for e in third.entries] == everything[6:]
    past = await stub.ListAuditLogs(pb.ListAuditLogsRequest(per_page=3, page=9), metadata=svc)
    assert list(past.entries) == [] and past.total_entries == len(everything)
    assert await ids(stub, svc, sort=["created:asc"]) == everything
    assert await ids(stub, svc, sort=["created:desc"]) == everything[::-1]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (pb.ListAuditLogsRequest(per_page=51), "per_page"),
        (pb.ListAuditLogsRequest(page=-1), "page"),
        (pb.ListAuditLogsRequest(sort=["name"]), "sort"),
        (pb.ListAuditLogsRequest(sort=["id:up"]), "direction"),
        (pb.ListAuditLogsRequest(since=stamp(5), until=stamp(1)), "until"),
    ],
)
async def test_bad_input_is_invalid_argument_saying_what_to_change(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int], request_: pb.ListAuditLogsRequest, message: str
) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListAuditLogs(request_, metadata=as_service())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (refused.value.details() or "")


async def test_a_client_sees_its_own_entries_and_its_organizations(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]
) -> None:
    alice = as_user(ALICE, "client", {ORG_A: "owner"})
    a_entries = [tenants["org_a_update"], tenants["alice_request"], tenants["alice_key"]]
    assert await ids(stub, alice) == a_entries
    # An admin of A sees A's entries though they are Alice's; a plain member of A does not
    # (an organization's audit log is for its owners and admins).
    colleague = as_user(404, "client", {ORG_A: "admin"})
    assert await ids(stub, colleague) == a_entries
    assert await ids(stub, as_user(405, "client", {ORG_A: "member"})) == []
    # Carol, in no organization, sees only her own.
    assert await ids(stub, as_user(CAROL)) == [tenants["carol_alone"]]


async def test_a_filter_naming_another_tenant_finds_nothing(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]
) -> None:
    alice = as_user(ALICE, "client", {ORG_A: "owner"})
    assert await ids(stub, alice, organization_id=ORG_B) == []
    assert await ids(stub, alice, user_id=BOB) == []
    assert await ids(stub, alice, user_id=CAROL) == []
    answer = await stub.ListAuditLogs(pb.ListAuditLogsRequest(user_id=BOB), metadata=alice)
    assert answer.total_entries == 0


async def test_billing_is_held_to_its_own_like_a_client(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]
) -> None:
    assert await ids(stub, as_user(BOB, "billing", {ORG_B: "billing"})) == [tenants["bob_key"], tenants["bob_org"]]
    assert await ids(stub, as_user(999, "billing")) == []


@pytest.mark.parametrize("role", ["admin", "support"])
async def test_admin_and_support_read_every_tenant(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int], role: str
) -> None:
    staff = as_user(999, role)
    assert await ids(stub, staff) == sorted(tenants.values(), reverse=True)
    assert await ids(stub, staff, organization_id=ORG_B) == [tenants["bob_key"], tenants["bob_org"]]


async def test_without_a_principal_the_call_is_refused(
    stub: pb_grpc.AuditServiceAsyncStub, tenants: dict[str, int]
) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListAuditLogs(pb.ListAuditLogsRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- login activity ----------------------------------------------------------------------------


@pytest.fixture
def logins(audit: Audit) -> list[int]:
    e = audit.engine
    return [
        insert_entry(
            e,
            user_id=ALICE,
            action="user.login_failed",
            ip_address="198.51.100.1",
            user_agent="curl/8",
            new_values={"ip": "198.51.100.1", "reason": "wrong_password", "failed_logins": 1},
            minutes=1,
        ),
        insert_entry(
            e,
            user_id=ALICE,
            action="user.locked",
            new_values={"ip": "198.51.100.2", "reason": "too_many_failed_logins"},
            minutes=2,
        ),
        insert_entry(
            e,
            user_id=ALICE,
            action="user.login_succeeded",
            ip_address="203.0.113.9",
            user_agent="Firefox",
            new_values={"ip": "203.0.113.9"},
            minutes=3,
        ),
        insert_entry(e, user_id=ALICE, action="api_key.created", minutes=4),
        insert_entry(e, user_id=BOB, action="user.login_succeeded", minutes=5),
    ]


async def test_login_activity_lists_the_users_attempts_newest_first(
    stub: pb_grpc.AuditServiceAsyncStub, logins: list[int]
) -> None:
    answer = await stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=ALICE), metadata=as_user(ALICE))
    assert answer.total_entries == 3
    succeeded, locked, failed = answer.attempts
    assert (succeeded.id, succeeded.success, succeeded.reason, succeeded.ip_address, succeeded.user_agent) == (
        logins[2],
        True,
        "",
        "203.0.113.9",
        "Firefox",
    )
    assert (locked.action, locked.success, locked.reason, locked.ip_address) == (
        "user.locked",
        False,
        "too_many_failed_logins",
        "198.51.100.2",
    )
    assert (failed.action, failed.reason, failed.user_agent) == ("user.login_failed", "wrong_password", "curl/8")
    assert failed.created_at.ToDatetime() == BASE_TIME + timedelta(minutes=1)
    page_two = await stub.ListLoginActivity(
        pb.ListLoginActivityRequest(user_id=ALICE, page=2, per_page=2), metadata=as_user(ALICE)
    )
    assert [a.id for a in page_two.attempts] == [logins[0]] and page_two.per_page == 2


async def test_another_users_login_activity_is_not_found_unless_admin_or_support(
    stub: pb_grpc.AuditServiceAsyncStub, logins: list[int]
) -> None:
    for role in ("client", "billing"):
        with pytest.raises(aio.AioRpcError) as refused:
            await stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=ALICE), metadata=as_user(BOB, role))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    for role in ("admin", "support"):
        answer = await stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=ALICE), metadata=as_user(BOB, role))
        assert answer.total_entries == 3
    answer = await stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=BOB), metadata=as_service())
    assert [a.id for a in answer.attempts] == [logins[4]]
