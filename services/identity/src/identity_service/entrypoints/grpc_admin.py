"""The AdminService gRPC API: staff administration of accounts, settings and quotas.

Every request names its acting user; a user principal must name itself (admins may name
anyone, services are trusted), as the organization RPCs do. What the acting user may then
do is decided in the service layer from their role as stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import admin_service_pb2 as pb
from cloudplatform.identity.v1 import admin_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import require_acting_self
from identity_service.bootstrap import Identity
from identity_service.domain.model import QuotaOwner
from identity_service.domain.staff import UserDetails
from identity_service.entrypoints.grpc_messages import (
    ROLES_BACK,
    STATUSES_BACK,
    quota_message,
    setting_message,
    user_message,
)
from identity_service.service_layer import staff

Context = aio.ServicerContext[Any, Any]


def user_details_message(details: UserDetails) -> pb.UserDetails:
    return pb.UserDetails(
        user=user_message(details.user),
        email_verified_at=_ts(details.email_verified_at),
        last_login_at=_ts(details.user.last_login_at),
        two_factor_enabled=details.two_factor_enabled,
        deleted=details.deleted_at is not None,
        deleted_at=_ts(details.deleted_at),
    )


def _owner(request: pb.ListQuotasRequest | pb.SetQuotaLimitRequest) -> QuotaOwner | None:
    which = request.WhichOneof("owner")
    if which is None:
        return None
    return (
        QuotaOwner(user_id=request.user_id)
        if which == "user_id"
        else QuotaOwner(organization_id=request.organization_id)
    )


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def SearchUsers(self, request: pb.SearchUsersRequest, context: Context) -> pb.SearchUsersResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        cmd = staff.SearchUsers(
            acting_user_id=request.acting_user_id,
            query=request.query,
            role=ROLES_BACK.get(request.role),
            status=STATUSES_BACK.get(request.status),
            page=request.page,
            per_page=request.per_page,
            sort=tuple(request.sort),
        )
        found, page, per_page, total = await asyncio.to_thread(staff.search_users, cmd, self._identity.uow())
        return pb.SearchUsersResponse(
            users=[user_details_message(u) for u in found], page=page, per_page=per_page, total_entries=total
        )

    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.GetUserResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        details = await asyncio.to_thread(staff.get_user, request.acting_user_id, request.user_id, self._identity.uow())
        return pb.GetUserResponse(user=user_details_message(details))

    async def SetUserStatus(self, request: pb.SetUserStatusRequest, context: Context) -> pb.SetUserStatusResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        status = STATUSES_BACK.get(request.status)
        if status is None:
            raise InvalidInput("name the new status: active, suspended or banned")
        cmd = staff.SetUserStatus(
            acting_user_id=request.acting_user_id, user_id=request.user_id, status=status, reason=request.reason
        )
        details = await asyncio.to_thread(staff.set_user_status, cmd, self._identity.uow())
        return pb.SetUserStatusResponse(user=user_details_message(details))

    async def EraseUser(self, request: pb.EraseUserRequest, context: Context) -> pb.EraseUserResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        details, sole = await asyncio.to_thread(
            staff.erase_user, request.acting_user_id, request.user_id, self._identity.uow()
        )
        return pb.EraseUserResponse(user=user_details_message(details), sole_member_organization_ids=sole)

    async def ListSettings(self, request: pb.ListSettingsRequest, context: Context) -> pb.ListSettingsResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        settings = await asyncio.to_thread(staff.list_settings, request.acting_user_id, self._identity.uow())
        return pb.ListSettingsResponse(settings=[setting_message(s) for s in settings])

    async def ListQuotas(self, request: pb.ListQuotasRequest, context: Context) -> pb.ListQuotasResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        quotas = await asyncio.to_thread(
            staff.list_quotas, request.acting_user_id, _owner(request), self._identity.uow()
        )
        return pb.ListQuotasResponse(quotas=[quota_message(q) for q in quotas])

    async def SetQuotaLimit(self, request: pb.SetQuotaLimitRequest, context: Context) -> pb.SetQuotaLimitResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        owner = _owner(request)
        if owner is None:
            raise InvalidInput("name the quota's owner: user_id or organization_id")
        cmd = staff.SetQuotaLimit(
            acting_user_id=request.acting_user_id,
            owner=owner,
            resource_type=request.resource_type,
            quota_limit=request.quota_limit,
        )
        quota = await asyncio.to_thread(staff.set_quota_limit, cmd, self._identity.uow)
        return pb.SetQuotaLimitResponse(quota=quota_message(quota))


def add_admin_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_AdminServiceServicer_to_server(AdminServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["AdminService"].full_name]
