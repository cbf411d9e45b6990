"""The gateway's calls about organizations to the identity service: IdentityService for
creating organizations and their memberships, OrganizationService for invitations, details
and per-member permissions. Each call carries the request's principal (the channel sends it
on); identity decides who may do what, and a refusal raises the public error of the same
meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from cloudplatform.identity.v1 import organization_service_pb2 as pb
from cloudplatform.identity.v1 import organization_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "identity"

ROLES = {
    "owner": ipb.ORGANIZATION_ROLE_OWNER,
    "admin": ipb.ORGANIZATION_ROLE_ADMIN,
    "member": ipb.ORGANIZATION_ROLE_MEMBER,
    "billing": ipb.ORGANIZATION_ROLE_BILLING,
}


class OrganizationsClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _identity(self) -> ipb_grpc.IdentityServiceAsyncStub:
        return ipb_grpc.IdentityServiceStub(self._channel())

    def _organizations(self) -> pb_grpc.OrganizationServiceAsyncStub:
        return pb_grpc.OrganizationServiceStub(self._channel())

    async def list_for_user(self, user_id: int) -> list[ipb.OrganizationMembership]:
        answer = await backend_call(
            BACKEND, self._identity().ListOrganizationsForUser(ipb.ListOrganizationsForUserRequest(user_id=user_id))
        )
        return list(answer.organizations)

    async def create(self, acting_user_id: int, name: str, slug: str) -> ipb.CreateOrganizationResponse:
        request = ipb.CreateOrganizationRequest(acting_user_id=acting_user_id, name=name, slug=slug)
        return await backend_call(BACKEND, self._identity().CreateOrganization(request))

    async def get(self, acting_user_id: int, organization_id: int) -> ipb.GetOrganizationResponse:
        request = ipb.GetOrganizationRequest(acting_user_id=acting_user_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._identity().GetOrganization(request))

    async def update(
        self,
        acting_user_id: int,
        organization_id: int,
        name: str | None,
        billing_email: str | None,
        *,
        country: str | None = None,
        tax_id: str | None = None,
    ) -> ipb.Organization:
        request = pb.UpdateOrganizationRequest(acting_user_id=acting_user_id, organization_id=organization_id)
        if name is not None:
            request.name = name
        if billing_email is not None:
            request.billing_email = billing_email
        if country is not None:
            request.country = country
        if tax_id is not None:
            request.tax_id = tax_id
        return (await backend_call(BACKEND, self._organizations().UpdateOrganization(request))).organization

    async def change_role(self, acting_user_id: int, organization_id: int, user_id: int, role: str) -> ipb.Member:
        request = ipb.ChangeMemberRoleRequest(
            acting_user_id=acting_user_id, organization_id=organization_id, user_id=user_id, role=ROLES[role]
        )
        return (await backend_call(BACKEND, self._identity().ChangeMemberRole(request))).member

    async def set_permissions(
        self, acting_user_id: int, organization_id: int, user_id: int, permissions: list[str]
    ) -> ipb.Member:
        request = pb.SetMemberPermissionsRequest(
            acting_user_id=acting_user_id, organization_id=organization_id, user_id=user_id, permissions=permissions
        )
        return (await backend_call(BACKEND, self._organizations().SetMemberPermissions(request))).member

    async def remove_member(self, acting_user_id: int, organization_id: int, user_id: int) -> None:
        request = ipb.RemoveMemberRequest(
            acting_user_id=acting_user_id, organization_id=organization_id, user_id=user_id
        )
        await backend_call(BACKEND, self._identity().RemoveMember(request))

    async def transfer_ownership(
        self, acting_user_id: int, organization_id: int, new_owner_id: int
    ) -> ipb.TransferOwnershipResponse:
        request = ipb.TransferOwnershipRequest(
            acting_user_id=acting_user_id, organization_id=organization_id, new_owner_id=new_owner_id
        )
        return await backend_call(BACKEND, self._identity().TransferOwnership(request))

    async def list_invitations(self, acting_user_id: int, organization_id: int) -> list[pb.Invitation]:
        request = pb.ListInvitationsRequest(acting_user_id=acting_user_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._organizations().ListInvitations(request))).invitations)

    async def invite(
        self, acting_user_id: int, organization_id: int, email: str, role: str, permissions: list[str]
    ) -> pb.InviteMemberResponse:
        request = pb.InviteMemberRequest(
            acting_user_id=acting_user_id,
            organization_id=organization_id,
            email=email,
            role=ROLES[role],
            permissions=permissions,
        )
        return await backend_call(BACKEND, self._organizations().InviteMember(request))

    async def revoke_invitation(self, acting_user_id: int, organization_id: int, invitation_id: int) -> pb.Invitation:
        request = pb.RevokeInvitationRequest(
            acting_user_id=acting_user_id, organization_id=organization_id, invitation_id=invitation_id
        )
        return (await backend_call(BACKEND, self._organizations().RevokeInvitation(request))).invitation

    async def accept_invitation(self, acting_user_id: int, token: str) -> pb.AcceptInvitationResponse:
        request = pb.AcceptInvitationRequest(acting_user_id=acting_user_id, token=token)
        return await backend_call(BACKEND, self._organizations().AcceptInvitation(request))
