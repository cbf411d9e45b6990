"""Invitations by email over gRPC on the real MariaDB, with the mail going through the real
SMTP sink: invite, read the mail, accept with the token from it."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from grpc import aio

from cloudctl.infra.mailsink import MailSink
from cloudctl.paths import LocalPaths
from cloudplatform.identity.v1 import events_pb2 as ev
from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import organization_service_pb2 as pb
from cloudplatform.identity.v1 import organization_service_pb2_grpc as pb_grpc
from cpshared.clock import ManualClock, set_clock, utcnow
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.invitations import invitation_digest
from identity_service.domain.model import User
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.entrypoints.grpc_organizations import add_organization_servicer
from identity_service.service_layer import organizations
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import event_types, make_user, outbox_events

TOKEN = re.compile(r"accept\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(utcnow())
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture
async def orgs(identity: Identity) -> AsyncIterator[pb_grpc.OrganizationServiceAsyncStub]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()

    def add(server: aio.Server) -> list[str]:
        return add_identity_servicer(server, identity) + add_organization_servicer(server, identity)

    task = asyncio.create_task(
        serve(ServiceIdentity(service="identity", version="test"), address, add, grace=0.5, stop_event=stop)
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield pb_grpc.OrganizationServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


def unique_email(name: str) -> str:
    """The SMTP sink is shared by every test run: each test mails addresses of its own."""
    return f"{name}-{uuid.uuid4().hex[:12]}@example.com"


def organization(identity: Identity, owner: User, slug: str = "acme") -> int:
    created, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner.id, name="Acme Cloud", slug=slug), identity.uow()
    )
    return created.id


def token_from_mail(paths: LocalPaths, to: str) -> str:
    mail = MailSink(paths.root).wait_for(to, "You are invited to join Acme Cloud")
    found = TOKEN.search(mail.body)
    assert found, mail.body
    assert found.group(1) in mail.body.split("accept?token=", 1)[1]
    return found.group(1)


async def expect(call: Awaitable[object], code: str) -> str:
    with pytest.raises(aio.AioRpcError) as failed:
        await call
    assert failed.value.code().name == code, failed.value.details()
    return failed.value.details() or ""


def invite(
    stub: pb_grpc.OrganizationServiceAsyncStub,
    acting: int,
    org: int,
    email: str,
    role: ipb.OrganizationRole.ValueType = ipb.ORGANIZATION_ROLE_MEMBER,
    permissions: tuple[str, ...] = (),
) -> Awaitable[pb.InviteMemberResponse]:
    return stub.InviteMember(
        pb.InviteMemberRequest(
            acting_user_id=acting, organization_id=org, email=email, role=role, permissions=list(permissions)
        )
    )


async def test_an_invitee_accepts_with_the_token_from_the_mail_and_becomes_a_member_with_the_role(
    identity: Identity, engine: sa.Engine, orgs: pb_grpc.OrganizationServiceAsyncStub, paths: LocalPaths
) -> None:
    owner = make_user(identity, unique_email("owner"))
    invitee_email = unique_email("invitee")
    invitee = make_user(identity, invitee_email.upper())  # accounts keep email case-insensitively
    stranger = make_user(identity, unique_email("stranger"))
    org = organization(identity, owner)

    sent = await invite(orgs, owner.id, org, invitee_email.upper(), ipb.ORGANIZATION_ROLE_BILLING, ("servers:read",))
    assert sent.mail_sent
    invitation = sent.invitation
    assert (invitation.email, invitation.role, list(invitation.permissions), invitation.invited_by) == (
        invitee_email,
        ipb.ORGANIZATION_ROLE_BILLING,
        ["servers:read"],
        owner.id,
    )
    assert invitation.expires_at.ToDatetime() - invitation.created_at.ToDatetime() == timedelta(days=7)
    token = token_from_mail(paths, invitee_email)
    mail = MailSink(paths.root).wait_for(invitee_email, "Acme Cloud")
    assert "billing" in mail.body and f"/v1/organizations/invitations/accept?token={token}" in mail.body

    # Only its SHA-256 is in the database; the token itself nowhere, nor in any event.
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM organization_invitations")).scalar_one()
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM organization_invitations")) for v in row)
        outbox = b" ".join(bytes(r[0]) for r in conn.execute(sa.text("SELECT envelope FROM outbox")))
    assert stored == invitation_digest(token) and token not in dump
    assert token.encode() not in outbox and invitee_email.encode() not in outbox

    # Someone else holding the token cannot use it.
    await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=stranger.id, token=token)), "PERMISSION_DENIED"
    )
    accepted = await orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token=token))
    assert (accepted.organization.id, accepted.member.user_id, accepted.member.role) == (
        org,
        invitee.id,
        ipb.ORGANIZATION_ROLE_BILLING,
    )
    assert (list(accepted.member.permissions), accepted.member.invited_by) == (["servers:read"], owner.id)
    again = await orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token=token))
    assert again.member == accepted.member
    await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=stranger.id, token=token)), "PERMISSION_DENIED"
    )
    await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token="not-a-token")), "NOT_FOUND"
    )
    # A member is not invited again; the accepted invitation is no longer listed.
    await expect(invite(orgs, owner.id, org, invitee_email), "ALREADY_EXISTS")
    listed = await orgs.ListInvitations(pb.ListInvitationsRequest(acting_user_id=owner.id, organization_id=org))
    assert list(listed.invitations) == []

    assert event_types(engine)[-3:] == [
        "organization.member_invited",
        "organization.invitation_accepted",
        "organization.member_added",
    ]
    events = outbox_events(engine)
    invited = next(e.payload for e in events if e.event_type == "organization.member_invited")
    assert isinstance(invited, ev.OrganizationMemberInvited)
    assert (invited.invitation_id, invited.role, invited.invited_by_user_id) == (invitation.id, "billing", owner.id)
    versions = [e.envelope.aggregate_version for e in events if e.envelope.aggregate_type == "organization"]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def test_inviting_again_revokes_the_old_token_and_only_managers_invite_list_and_revoke(
    identity: Identity, engine: sa.Engine, orgs: pb_grpc.OrganizationServiceAsyncStub, paths: LocalPaths
) -> None:
    owner, member = make_user(identity, unique_email("owner")), make_user(identity, unique_email("member"))
    outsider = make_user(identity, unique_email("outsider"))
    invitee_email = unique_email("invitee")
    invitee = make_user(identity, invitee_email)
    org = organization(identity, owner)
    organizations.add_member(
        commands.AddMember(acting_user_id=owner.id, organization_id=org, user_id=member.id), identity.uow()
    )

    first = await invite(orgs, owner.id, org, invitee_email)
    old_token = token_from_mail(paths, invitee_email)
    second = await invite(orgs, owner.id, org, invitee_email, ipb.ORGANIZATION_ROLE_ADMIN)
    new_token = MailSink(paths.root).wait_for(invitee_email, "Acme Cloud").body
    new_token = TOKEN.search(new_token).group(1)  # type: ignore[union-attr]
    assert new_token != old_token
    listed = await orgs.ListInvitations(pb.ListInvitationsRequest(acting_user_id=owner.id, organization_id=org))
    assert [(i.id, i.email) for i in listed.invitations] == [(second.invitation.id, invitee_email)]
    details = await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token=old_token)),
        "FAILED_PRECONDITION",
    )
    assert "revoked" in details
    revoked = next(e.payload for e in outbox_events(engine) if e.event_type == "organization.invitation_revoked")
    assert isinstance(revoked, ev.OrganizationInvitationRevoked)
    assert (revoked.invitation_id, revoked.reason) == (first.invitation.id, "replaced")

    # Members without the owner or admin role are refused; outsiders do not see the organization.
    await expect(invite(orgs, member.id, org, unique_email("x")), "PERMISSION_DENIED")
    await expect(
        orgs.ListInvitations(pb.ListInvitationsRequest(acting_user_id=member.id, organization_id=org)),
        "PERMISSION_DENIED",
    )
    await expect(invite(orgs, outsider.id, org, unique_email("x")), "NOT_FOUND")
    await expect(invite(orgs, owner.id, org, "not an email"), "INVALID_ARGUMENT")
    await expect(invite(orgs, owner.id, org, unique_email("x"), ipb.ORGANIZATION_ROLE_OWNER), "INVALID_ARGUMENT")
    await expect(invite(orgs, owner.id, org, unique_email("x"), permissions=("everything",)), "INVALID_ARGUMENT")

    # Revoked by a manager: the token stops working; revoking again answers the same.
    gone = await orgs.RevokeInvitation(
        pb.RevokeInvitationRequest(acting_user_id=owner.id, organization_id=org, invitation_id=second.invitation.id)
    )
    assert gone.invitation.HasField("revoked_at")
    again = await orgs.RevokeInvitation(
        pb.RevokeInvitationRequest(acting_user_id=owner.id, organization_id=org, invitation_id=second.invitation.id)
    )
    assert again.invitation.revoked_at == gone.invitation.revoked_at
    await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token=new_token)),
        "FAILED_PRECONDITION",
    )
    assert event_types(engine).count("organization.invitation_revoked") == 2


async def test_an_expired_invitation_is_refused_and_no_longer_listed(
    identity: Identity, orgs: pb_grpc.OrganizationServiceAsyncStub, paths: LocalPaths, clock: ManualClock
) -> None:
    owner = make_user(identity, unique_email("owner"))
    invitee_email = unique_email("invitee")
    invitee = make_user(identity, invitee_email)
    org = organization(identity, owner)
    await invite(orgs, owner.id, org, invitee_email)
    token = token_from_mail(paths, invitee_email)

    clock.advance(timedelta(days=7))
    details = await expect(
        orgs.AcceptInvitation(pb.AcceptInvitationRequest(acting_user_id=invitee.id, token=token)),
        "FAILED_PRECONDITION",
    )
    assert "expired" in details and "new one" in details
    listed = await orgs.ListInvitations(pb.ListInvitationsRequest(acting_user_id=owner.id, organization_id=org))
    assert list(listed.invitations) == []


async def test_update_organization_and_member_permissions_record_events_without_values(
    identity: Identity, engine: sa.Engine, orgs: pb_grpc.OrganizationServiceAsyncStub
) -> None:
    owner, member = make_user(identity, unique_email("owner")), make_user(identity, unique_email("member"))
    org = organization(identity, owner)
    organizations.add_member(
        commands.AddMember(acting_user_id=owner.id, organization_id=org, user_id=member.id), identity.uow()
    )

    updated = await orgs.UpdateOrganization(
        pb.UpdateOrganizationRequest(
            acting_user_id=owner.id, organization_id=org, name="Acme Two", billing_email="Bills@Example.com"
        )
    )
    assert (updated.organization.name, updated.organization.billing_email) == ("Acme Two", "bills@example.com")
    cleared = await orgs.UpdateOrganization(
        pb.UpdateOrganizationRequest(acting_user_id=owner.id, organization_id=org, billing_email="")
    )
    assert (cleared.organization.name, cleared.organization.billing_email) == ("Acme Two", "")
    await expect(
        orgs.UpdateOrganization(pb.UpdateOrganizationRequest(acting_user_id=owner.id, organization_id=org)),
        "INVALID_ARGUMENT",
    )
    await expect(
        orgs.UpdateOrganization(pb.UpdateOrganizationRequest(acting_user_id=member.id, organization_id=org, name="X")),
        "PERMISSION_DENIED",
    )
    changed = await orgs.SetMemberPermissions(
        pb.SetMemberPermissionsRequest(
            acting_user_id=owner.id, organization_id=org, user_id=member.id, permissions=["volumes:write"]
        )
    )
    assert list(changed.member.permissions) == ["volumes:write"]
    await expect(
        orgs.SetMemberPermissions(
            pb.SetMemberPermissionsRequest(acting_user_id=member.id, organization_id=org, user_id=member.id)
        ),
        "PERMISSION_DENIED",
    )

    events = outbox_events(engine)
    updates = [e.payload for e in events if e.event_type == "organization.updated"]
    assert [list(u.changed_fields) for u in updates if isinstance(u, ev.OrganizationUpdated)] == [
        ["name", "billing_email"],
        ["billing_email"],
    ]
    perms = events[-1].payload
    assert isinstance(perms, ev.OrganizationMemberPermissionsChanged)
    assert (list(perms.old_permissions), list(perms.new_permissions), perms.changed_by_user_id) == (
        [],
        ["volumes:write"],
        owner.id,
    )
    assert b"bills@example.com" not in b"".join(e.payload.SerializeToString() for e in events)


async def test_an_organizations_country_and_vat_id_travel_with_their_values_for_billing(
    identity: Identity, engine: sa.Engine, orgs: pb_grpc.OrganizationServiceAsyncStub
) -> None:
    owner = make_user(identity, unique_email("owner"))
    org = organization(identity, owner)
    updated = await orgs.UpdateOrganization(
        pb.UpdateOrganizationRequest(acting_user_id=owner.id, organization_id=org, country="at", tax_id=" ATU123 ")
    )
    assert (updated.organization.country, updated.organization.tax_id) == ("AT", "ATU123")
    await expect(
        orgs.UpdateOrganization(
            pb.UpdateOrganizationRequest(acting_user_id=owner.id, organization_id=org, country="XX")
        ),
        "INVALID_ARGUMENT",
    )
    cleared = await orgs.UpdateOrganization(
        pb.UpdateOrganizationRequest(acting_user_id=owner.id, organization_id=org, tax_id="")
    )
    assert (cleared.organization.country, cleared.organization.tax_id) == ("AT", "")
    updates = [e.payload for e in outbox_events(engine) if e.event_type == "organization.updated"]
    assert all(isinstance(u, ev.OrganizationUpdated) for u in updates)
    first, second = updates[-2:]
    assert isinstance(first, ev.OrganizationUpdated) and isinstance(second, ev.OrganizationUpdated)
    assert (list(first.changed_fields), first.country, first.tax_id, first.HasField("name")) == (
        ["country", "tax_id"],
        "AT",
        "ATU123",
        False,
    )
    assert (list(second.changed_fields), second.HasField("tax_id"), second.tax_id, second.HasField("country")) == (
        ["tax_id"],
        True,
        "",
        False,
    )
