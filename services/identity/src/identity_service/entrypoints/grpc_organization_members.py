"""IdentityService's RPCs of organizations and their members."""

from __future__ import annotations

import asyncio
from functools import partial

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import InvalidInput
from identity_service.adapters.authorization import acting_as_platform_admin, require_acting_self, require_self
from identity_service.domain import commands
from identity_service.entrypoints.grpc_identity_base import IdentityRpcs
from identity_service.entrypoints.grpc_messages import Context, grantable_role, member_message, organization_message
from identity_service.service_layer import organizations


class OrganizationMemberRpcs(IdentityRpcs):
    async def CreateOrganization(  # noqa: N802
        self, request: pb.CreateOrganizationRequest, context: Context
    ) -> pb.CreateOrganizationResponse:
        require_acting_self(request.acting_user_id)
        cmd = commands.CreateOrganization(acting_user_id=request.acting_user_id, name=request.name, slug=request.slug)
        organization, owner = await asyncio.to_thread(organizations.create_organization, cmd, self._identity.uow())
        return pb.CreateOrganizationResponse(
            organization=organization_message(organization), owner=member_message(owner)
        )

    async def GetOrganization(  # noqa: N802
        self, request: pb.GetOrganizationRequest, context: Context
    ) -> pb.GetOrganizationResponse:
        require_acting_self(request.acting_user_id)
        organization, members = await asyncio.to_thread(
            partial(organizations.get_organization, as_platform_admin=acting_as_platform_admin()),
            request.acting_user_id,
            request.organization_id,
            self._identity.uow(),
        )
        return pb.GetOrganizationResponse(
            organization=organization_message(organization), members=[member_message(m) for m in members]
        )

    async def ListOrganizationsForUser(  # noqa: N802
        self, request: pb.ListOrganizationsForUserRequest, context: Context
    ) -> pb.ListOrganizationsForUserResponse:
        require_self(request.user_id, "organizations")
        found = await asyncio.to_thread(
            organizations.list_organizations_for_user, request.user_id, self._identity.uow()
        )
        return pb.ListOrganizationsForUserResponse(
            organizations=[
                pb.OrganizationMembership(organization=organization_message(o), membership=member_message(m))
                for o, m in found
            ]
        )

    async def AddMember(self, request: pb.AddMemberRequest, context: Context) -> pb.AddMemberResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        cmd = commands.AddMember(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            user_id=request.user_id,
            role=grantable_role(request.role),
            permissions=tuple(request.permissions),
        )
        member = await asyncio.to_thread(organizations.add_member, cmd, self._identity.uow())
        return pb.AddMemberResponse(member=member_message(member))

    async def ChangeMemberRole(  # noqa: N802
        self, request: pb.ChangeMemberRoleRequest, context: Context
    ) -> pb.ChangeMemberRoleResponse:
        require_acting_self(request.acting_user_id)
        if request.role == pb.ORGANIZATION_ROLE_UNSPECIFIED:
            raise InvalidInput("name the new role: admin, member or billing")
        cmd = commands.ChangeMemberRole(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            user_id=request.user_id,
            role=grantable_role(request.role),
            as_platform_admin=acting_as_platform_admin(),
        )
        member = await asyncio.to_thread(organizations.change_member_role, cmd, self._identity.uow())
        return pb.ChangeMemberRoleResponse(member=member_message(member))

    async def RemoveMember(self, request: pb.RemoveMemberRequest, context: Context) -> pb.RemoveMemberResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        cmd = commands.RemoveMember(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            user_id=request.user_id,
            as_platform_admin=acting_as_platform_admin(),
        )
        await asyncio.to_thread(organizations.remove_member, cmd, self._identity.uow())
        return pb.RemoveMemberResponse()

    async def TransferOwnership(  # noqa: N802
        self, request: pb.TransferOwnershipRequest, context: Context
    ) -> pb.TransferOwnershipResponse:
        require_acting_self(request.acting_user_id)
        cmd = commands.TransferOwnership(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            new_owner_id=request.new_owner_id,
            as_platform_admin=acting_as_platform_admin(),
        )
        organization, members = await asyncio.to_thread(organizations.transfer_ownership, cmd, self._identity.uow())
        return pb.TransferOwnershipResponse(
            organization=organization_message(organization), members=[member_message(m) for m in members]
        )
