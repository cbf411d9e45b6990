"""The OrganizationService gRPC API: invitations, organization details, member permissions.

As in the IdentityService servicer, each use case runs on a worker thread. The invitation
mail is sent after the use case committed, on a worker thread too; a mail that cannot be
handed over is logged (never with its token) and answered as ``mail_sent = false``: the
invitation stands, and inviting again replaces it with a fresh token.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import organization_service_pb2 as pb
from cloudplatform.identity.v1 import organization_service_pb2_grpc as pb_grpc
from cpshared.logging import get_logger
from cpshared.mail import MailError
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import acting_as_platform_admin, require_acting_self
from identity_service.bootstrap import Identity
from identity_service.domain import invitations as domain
from identity_service.domain.invitations import Invitation, invitation_mail
from identity_service.entrypoints.grpc_messages import (
    ORGANIZATION_ROLES,
    grantable_role,
    member_message,
    organization_message,
)
from identity_service.service_layer import invitations

Context = aio.ServicerContext[Any, Any]

log = get_logger(__name__)


def invitation_message(invitation: Invitation) -> pb.Invitation:
    return pb.Invitation(
        id=invitation.id,
        organization_id=invitation.organization_id,
        email=invitation.email,
        role=ORGANIZATION_ROLES[invitation.role],
        permissions=list(invitation.permissions),
        invited_by=invitation.invited_by or 0,
        created_at=_ts(invitation.created_at),
        expires_at=_ts(invitation.expires_at),
        accepted_by=invitation.accepted_by or 0,
        accepted_at=_ts(invitation.accepted_at),
        revoked_at=_ts(invitation.revoked_at),
    )


class OrganizationServicer(pb_grpc.OrganizationServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def InviteMember(self, request: pb.InviteMemberRequest, context: Context) -> pb.InviteMemberResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        cmd = domain.InviteMember(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            email=request.email,
            role=grantable_role(request.role),
            permissions=tuple(request.permissions),
            as_platform_admin=acting_as_platform_admin(),
        )
        sent = await asyncio.to_thread(invitations.invite_member, cmd, self._identity.uow())
        mail_sent = await self._send_invitation_mail(sent)
        return pb.InviteMemberResponse(invitation=invitation_message(sent.invitation), mail_sent=mail_sent)

    async def _send_invitation_mail(self, sent: invitations.SentInvitation) -> bool:
        subject, body = invitation_mail(
            sent.organization.name, sent.invitation.role, sent.token, self._identity.mail.public_url
        )
        try:
            await asyncio.to_thread(self._identity.send_mail, sent.invitation.email, subject, body)
        except MailError as exc:
            # The error names the SMTP server and its answer, never the mail's content.
            log.error(
                "invitation_mail_failed",
                invitation_id=sent.invitation.id,
                organization_id=sent.invitation.organization_id,
                error=str(exc),
            )
            return False
        return True

    async def ListInvitations(  # noqa: N802
        self, request: pb.ListInvitationsRequest, context: Context
    ) -> pb.ListInvitationsResponse:
        require_acting_self(request.acting_user_id)
        found = await asyncio.to_thread(
            partial(invitations.list_invitations, as_platform_admin=acting_as_platform_admin()),
            request.acting_user_id,
            request.organization_id,
            self._identity.uow(),
        )
        return pb.ListInvitationsResponse(invitations=[invitation_message(i) for i in found])

    async def RevokeInvitation(  # noqa: N802
        self, request: pb.RevokeInvitationRequest, context: Context
    ) -> pb.RevokeInvitationResponse:
        require_acting_self(request.acting_user_id)
        cmd = domain.RevokeInvitation(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            invitation_id=request.invitation_id,
            as_platform_admin=acting_as_platform_admin(),
        )
        invitation = await asyncio.to_thread(invitations.revoke_invitation, cmd, self._identity.uow())
        return pb.RevokeInvitationResponse(invitation=invitation_message(invitation))

    async def AcceptInvitation(  # noqa: N802
        self, request: pb.AcceptInvitationRequest, context: Context
    ) -> pb.AcceptInvitationResponse:
        require_acting_self(request.acting_user_id)
        cmd = domain.AcceptInvitation(acting_user_id=request.acting_user_id, token=request.token)
        organization, member = await asyncio.to_thread(invitations.accept_invitation, cmd, self._identity.uow())
        return pb.AcceptInvitationResponse(
            organization=organization_message(organization), member=member_message(member)
        )

    async def UpdateOrganization(  # noqa: N802
        self, request: pb.UpdateOrganizationRequest, context: Context
    ) -> pb.UpdateOrganizationResponse:
        require_acting_self(request.acting_user_id)
        cmd = domain.UpdateOrganization(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            name=request.name if request.HasField("name") else None,
            billing_email=request.billing_email if request.HasField("billing_email") else None,
            country=request.country if request.HasField("country") else None,
            tax_id=request.tax_id if request.HasField("tax_id") else None,
            as_platform_admin=acting_as_platform_admin(),
        )
        organization = await asyncio.to_thread(invitations.update_organization, cmd, self._identity.uow())
        return pb.UpdateOrganizationResponse(organization=organization_message(organization))

    async def SetMemberPermissions(  # noqa: N802
        self, request: pb.SetMemberPermissionsRequest, context: Context
    ) -> pb.SetMemberPermissionsResponse:
        require_acting_self(request.acting_user_id)
        cmd = domain.SetMemberPermissions(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            user_id=request.user_id,
            permissions=tuple(request.permissions),
            as_platform_admin=acting_as_platform_admin(),
        )
        member = await asyncio.to_thread(invitations.set_member_permissions, cmd, self._identity.uow())
        return pb.SetMemberPermissionsResponse(member=member_message(member))


def add_organization_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_OrganizationServiceServicer_to_server(OrganizationServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["OrganizationService"].full_name]
