"""IdentityService's RPCs of users: creation, sign-in and the sign-in history."""

from __future__ import annotations

import asyncio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from identity_service.adapters.authorization import require_self, require_service
from identity_service.domain import commands
from identity_service.domain.model import UserRole, UserStatus
from identity_service.entrypoints.grpc_identity_base import IdentityRpcs
from identity_service.entrypoints.grpc_messages import (
    ROLES_BACK,
    STATUSES_BACK,
    Context,
    login_activity_message,
    user_message,
)
from identity_service.service_layer import logins, users


class UserRpcs(IdentityRpcs):
    async def CreateUser(self, request: pb.CreateUserRequest, context: Context) -> pb.CreateUserResponse:  # noqa: N802
        require_service("CreateUser")
        cmd = commands.CreateUser(
            name=request.name,
            email=request.email,
            password=request.password,
            role=ROLES_BACK.get(request.role, UserRole.CLIENT),
            status=STATUSES_BACK.get(request.status, UserStatus.PENDING),
        )
        user = await asyncio.to_thread(users.create_user, cmd, self._identity.uow())
        return pb.CreateUserResponse(user=user_message(user))

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:  # noqa: N802
        require_service("Login")
        cmd = commands.Login(
            email=request.email,
            password=request.password,
            ip=request.ip,
            user_agent=request.user_agent,
            totp_code=request.totp_code,
            recovery_code=request.recovery_code,
        )
        user = await asyncio.to_thread(logins.login, cmd, self._identity.uow())
        return pb.LoginResponse(user=user_message(user))

    async def ListLoginActivity(  # noqa: N802
        self, request: pb.ListLoginActivityRequest, context: Context
    ) -> pb.ListLoginActivityResponse:
        require_self(request.user_id, "login activity")
        attempts, page, per_page, total = await asyncio.to_thread(
            logins.list_login_activity, request.user_id, request.page, request.per_page, self._identity.uow()
        )
        return pb.ListLoginActivityResponse(
            login_activity=[login_activity_message(a) for a in attempts],
            page=page,
            per_page=per_page,
            total_entries=total,
        )
