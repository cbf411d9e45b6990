"""Login, login activity and organizations through a real grpc.aio server on loopback."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from tests.integration.identity.support import PASSWORD, create_user


async def expect(call: Awaitable[object], code: str) -> None:
    with pytest.raises(aio.AioRpcError) as failed:
        await call
    assert failed.value.code().name == code, failed.value.details()


async def test_login_over_grpc_records_each_attempt_and_maps_refusals_to_codes(
    stub: pb_grpc.IdentityServiceAsyncStub,
) -> None:
    user = await create_user(stub)
    signed_in = await stub.Login(
        pb.LoginRequest(email="ada@example.com", password=PASSWORD, ip="2001:db8::7", user_agent="grpc-test")
    )
    assert signed_in.user.id == user.id
    await expect(
        stub.Login(pb.LoginRequest(email="ada@example.com", password="nope", ip="127.0.0.1")), "UNAUTHENTICATED"
    )
    await expect(
        stub.Login(pb.LoginRequest(email="who@example.com", password="nope", ip="127.0.0.1")), "UNAUTHENTICATED"
    )
    await expect(stub.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD, ip="")), "INVALID_ARGUMENT")
    for _ in range(2):
        await expect(
            stub.Login(pb.LoginRequest(email="ada@example.com", password="nope", ip="127.0.0.1")), "UNAUTHENTICATED"
        )
    # The third wrong password of (ada, 127.0.0.1) brought a wait: not even the right one is checked.
    await expect(
        stub.Login(pb.LoginRequest(email="ada@example.com", password=PASSWORD, ip="127.0.0.1")), "RESOURCE_EXHAUSTED"
    )

    listed = await stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=user.id, per_page=50))
    assert listed.total_entries == 5 and (listed.page, listed.per_page) == (1, 50)
    reasons = [a.failure_reason for a in listed.login_activity]
    assert reasons == [pb.LOGIN_FAILURE_REASON_LOCKED] + [pb.LOGIN_FAILURE_REASON_WRONG_PASSWORD] * 3 + [
        pb.LOGIN_FAILURE_REASON_UNSPECIFIED
    ]
    first = listed.login_activity[-1]
    assert (first.success, first.ip_address, first.user_agent) == (True, "2001:db8::7", "grpc-test")
    await expect(stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=user.id, per_page=51)), "INVALID_ARGUMENT")
    await expect(stub.ListLoginActivity(pb.ListLoginActivityRequest(user_id=999_999)), "NOT_FOUND")


async def test_organizations_over_grpc(stub: pb_grpc.IdentityServiceAsyncStub) -> None:
    owner = await create_user(stub, "owner@example.com")
    admin = await create_user(stub, "admin@example.com")
    member = await create_user(stub, "member@example.com")
    outsider = await create_user(stub, "outsider@example.com")

    created = await stub.CreateOrganization(
        pb.CreateOrganizationRequest(acting_user_id=owner.id, name="Acme", slug="acme")
    )
    org = created.organization
    assert (org.slug, org.owner_id, org.status) == ("acme", owner.id, pb.ORGANIZATION_STATUS_ACTIVE)
    assert created.owner.role == pb.ORGANIZATION_ROLE_OWNER

    added = await stub.AddMember(
        pb.AddMemberRequest(
            acting_user_id=owner.id,
            organization_id=org.id,
            user_id=admin.id,
            role=pb.ORGANIZATION_ROLE_ADMIN,
            permissions=["servers:write"],
        )
    )
    assert (added.member.role, list(added.member.permissions), added.member.invited_by) == (
        pb.ORGANIZATION_ROLE_ADMIN,
        ["servers:write"],
        owner.id,
    )
    defaulted = await stub.AddMember(
        pb.AddMemberRequest(acting_user_id=admin.id, organization_id=org.id, user_id=member.id)
    )
    assert defaulted.member.role == pb.ORGANIZATION_ROLE_MEMBER
    changed = await stub.ChangeMemberRole(
        pb.ChangeMemberRoleRequest(
            acting_user_id=admin.id, organization_id=org.id, user_id=member.id, role=pb.ORGANIZATION_ROLE_BILLING
        )
    )
    assert changed.member.role == pb.ORGANIZATION_ROLE_BILLING

    got = await stub.GetOrganization(pb.GetOrganizationRequest(acting_user_id=member.id, organization_id=org.id))
    assert [m.user_id for m in got.members] == [owner.id, admin.id, member.id]
    mine = await stub.ListOrganizationsForUser(pb.ListOrganizationsForUserRequest(user_id=member.id))
    assert [(o.organization.id, o.membership.role) for o in mine.organizations] == [
        (org.id, pb.ORGANIZATION_ROLE_BILLING)
    ]

    transferred = await stub.TransferOwnership(
        pb.TransferOwnershipRequest(acting_user_id=owner.id, organization_id=org.id, new_owner_id=admin.id)
    )
    assert transferred.organization.owner_id == admin.id
    assert {m.user_id: m.role for m in transferred.members} == {
        owner.id: pb.ORGANIZATION_ROLE_ADMIN,
        admin.id: pb.ORGANIZATION_ROLE_OWNER,
        member.id: pb.ORGANIZATION_ROLE_BILLING,
    }
    await stub.RemoveMember(pb.RemoveMemberRequest(acting_user_id=member.id, organization_id=org.id, user_id=member.id))

    def create(slug: str, actor: int = outsider.id) -> Awaitable[object]:
        return stub.CreateOrganization(pb.CreateOrganizationRequest(acting_user_id=actor, name="X", slug=slug))

    cases: list[tuple[Awaitable[object], str]] = [
        (create("acme"), "ALREADY_EXISTS"),
        (create("Not_A_Slug"), "INVALID_ARGUMENT"),
        (create("fresh", actor=999_999), "NOT_FOUND"),
        (
            stub.GetOrganization(pb.GetOrganizationRequest(acting_user_id=outsider.id, organization_id=org.id)),
            "NOT_FOUND",
        ),
        (
            stub.AddMember(pb.AddMemberRequest(acting_user_id=outsider.id, organization_id=org.id, user_id=member.id)),
            "NOT_FOUND",
        ),
        (
            stub.AddMember(
                pb.AddMemberRequest(
                    acting_user_id=admin.id, organization_id=org.id, user_id=member.id, role=pb.ORGANIZATION_ROLE_OWNER
                )
            ),
            "INVALID_ARGUMENT",
        ),
        (
            stub.ChangeMemberRole(
                pb.ChangeMemberRoleRequest(acting_user_id=admin.id, organization_id=org.id, user_id=owner.id)
            ),
            "INVALID_ARGUMENT",
        ),
        (
            stub.RemoveMember(
                pb.RemoveMemberRequest(acting_user_id=owner.id, organization_id=org.id, user_id=admin.id)
            ),
            "FAILED_PRECONDITION",
        ),
        (
            stub.TransferOwnership(
                pb.TransferOwnershipRequest(acting_user_id=owner.id, organization_id=org.id, new_owner_id=owner.id)
            ),
            "PERMISSION_DENIED",
        ),
        (
            stub.TransferOwnership(
                pb.TransferOwnershipRequest(acting_user_id=admin.id, organization_id=org.id, new_owner_id=outsider.id)
            ),
            "FAILED_PRECONDITION",
        ),
    ]
    for call, code in cases:
        await expect(call, code)
