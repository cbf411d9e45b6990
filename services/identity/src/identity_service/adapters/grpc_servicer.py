"""The IdentityService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

The handlers are synchronous (SQLAlchemy on PyMySQL), so each call runs in a thread and
the event loop stays free. Domain errors raised there become status codes in the shared
error interceptor. Nothing here can put a password hash or an API key's hash on the wire:
the messages have no field for them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from functools import partial
from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import sign
from cpshared.errors import InvalidInput, Unavailable
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import (
    acting_as_platform_admin,
    owner_constraint,
    require_acting_self,
    require_self,
    require_service,
)
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import (
    ApiKey,
    LoginAttempt,
    LoginFailure,
    Membership,
    Organization,
    OrganizationRole,
    OrganizationStatus,
    Quota,
    QuotaOwner,
    Reservation,
    ReservationStatus,
    Setting,
    SettingType,
    User,
    UserRole,
    UserStatus,
)
from identity_service.service_layer import accounts, handlers

Context = aio.ServicerContext[Any, Any]

ROLES = {
    UserRole.ADMIN: pb.USER_ROLE_ADMIN,
    UserRole.CLIENT: pb.USER_ROLE_CLIENT,
    UserRole.SUPPORT: pb.USER_ROLE_SUPPORT,
    UserRole.BILLING: pb.USER_ROLE_BILLING,
}
ROLES_BACK = {v: k for k, v in ROLES.items()}
STATUSES = {
    UserStatus.ACTIVE: pb.USER_STATUS_ACTIVE,
    UserStatus.SUSPENDED: pb.USER_STATUS_SUSPENDED,
    UserStatus.PENDING: pb.USER_STATUS_PENDING,
    UserStatus.BANNED: pb.USER_STATUS_BANNED,
}
STATUSES_BACK = {v: k for k, v in STATUSES.items()}
SETTING_TYPES = {
    SettingType.STRING: pb.SETTING_TYPE_STRING,
    SettingType.INTEGER: pb.SETTING_TYPE_INTEGER,
    SettingType.BOOLEAN: pb.SETTING_TYPE_BOOLEAN,
    SettingType.JSON: pb.SETTING_TYPE_JSON,
}


ORGANIZATION_ROLES = {
    OrganizationRole.OWNER: pb.ORGANIZATION_ROLE_OWNER,
    OrganizationRole.ADMIN: pb.ORGANIZATION_ROLE_ADMIN,
    OrganizationRole.MEMBER: pb.ORGANIZATION_ROLE_MEMBER,
    OrganizationRole.BILLING: pb.ORGANIZATION_ROLE_BILLING,
}
ORGANIZATION_ROLES_BACK = {v: k for k, v in ORGANIZATION_ROLES.items()}
ORGANIZATION_STATUSES = {
    OrganizationStatus.ACTIVE: pb.ORGANIZATION_STATUS_ACTIVE,
    OrganizationStatus.SUSPENDED: pb.ORGANIZATION_STATUS_SUSPENDED,
    OrganizationStatus.TRIAL: pb.ORGANIZATION_STATUS_TRIAL,
}
LOGIN_FAILURES = {
    LoginFailure.UNKNOWN_EMAIL: pb.LOGIN_FAILURE_REASON_UNKNOWN_EMAIL,
    LoginFailure.WRONG_PASSWORD: pb.LOGIN_FAILURE_REASON_WRONG_PASSWORD,
    LoginFailure.LOCKED: pb.LOGIN_FAILURE_REASON_LOCKED,
    LoginFailure.SUSPENDED: pb.LOGIN_FAILURE_REASON_SUSPENDED,
    LoginFailure.BANNED: pb.LOGIN_FAILURE_REASON_BANNED,
    LoginFailure.PENDING: pb.LOGIN_FAILURE_REASON_PENDING,
    LoginFailure.TWO_FACTOR_REQUIRED: pb.LOGIN_FAILURE_REASON_TWO_FACTOR_REQUIRED,
    LoginFailure.WRONG_TWO_FACTOR_CODE: pb.LOGIN_FAILURE_REASON_WRONG_TWO_FACTOR_CODE,
}


def user_message(user: User) -> pb.User:
    return pb.User(
        id=user.id,
        name=user.name,
        email=user.email,
        role=ROLES[user.role],
        status=STATUSES[user.status],
        created_at=_ts(user.created_at),
    )


def organization_message(organization: Organization) -> pb.Organization:
    return pb.Organization(
        id=organization.id,
        name=organization.name,
        slug=organization.slug,
        owner_id=organization.owner_id,
        status=ORGANIZATION_STATUSES[organization.status],
        created_at=_ts(organization.created_at),
        billing_email=organization.billing_email or "",
        country=organization.country or "",
        tax_id=organization.tax_id or "",
    )


def member_message(member: Membership) -> pb.Member:
    return pb.Member(
        organization_id=member.organization_id,
        user_id=member.user_id,
        role=ORGANIZATION_ROLES[member.role],
        permissions=list(member.permissions),
        invited_by=member.invited_by or 0,
        joined_at=_ts(member.joined_at),
    )


def login_activity_message(attempt: LoginAttempt) -> pb.LoginActivity:
    return pb.LoginActivity(
        id=attempt.id,
        user_id=attempt.user_id or 0,
        ip_address=attempt.ip_address,
        user_agent=attempt.user_agent,
        success=attempt.success,
        failure_reason=LOGIN_FAILURES[attempt.failure_reason]
        if attempt.failure_reason is not None
        else pb.LOGIN_FAILURE_REASON_UNSPECIFIED,
        created_at=_ts(attempt.created_at),
    )


def _grantable_role(role: pb.OrganizationRole.ValueType) -> OrganizationRole:
    if role == pb.ORGANIZATION_ROLE_UNSPECIFIED:
        return OrganizationRole.MEMBER
    found = ORGANIZATION_ROLES_BACK.get(role)
    if found is None:
        raise InvalidInput(f"role {role} is not an organization role: use admin, member or billing")
    return found


def api_key_message(key: ApiKey) -> pb.ApiKey:
    return pb.ApiKey(
        id=key.id,
        user_id=key.user_id,
        organization_id=key.organization_id or 0,
        name=key.name,
        last_four=key.last_four,
        scopes=list(key.scopes),
        rate_limit=key.rate_limit,
        expires_at=_ts(key.expires_at),
        last_used_at=_ts(key.last_used_at),
        created_at=_ts(key.created_at),
        revoked_at=_ts(key.revoked_at),
        last_used_ip=key.last_used_ip or "",
    )


def quota_message(quota: Quota) -> pb.Quota:
    return pb.Quota(
        id=quota.id,
        user_id=quota.owner.user_id or 0,
        organization_id=quota.owner.organization_id or 0,
        resource_type=quota.resource_type,
        quota_limit=quota.quota_limit,
        current_usage=quota.current_usage,
    )


def reservation_message(reservation: Reservation) -> pb.QuotaReservation:
    return pb.QuotaReservation(
        reservation_key=reservation.key,
        amount=reservation.amount,
        status=pb.RESERVATION_STATUS_RESERVED
        if reservation.status is ReservationStatus.RESERVED
        else pb.RESERVATION_STATUS_RELEASED,
        created_at=_ts(reservation.created_at),
        released_at=_ts(reservation.released_at),
    )


def setting_message(setting: Setting) -> pb.Setting:
    message = pb.Setting(
        key=setting.key,
        type=SETTING_TYPES[setting.type],
        description=setting.description,
        updated_at=_ts(setting.updated_at),
    )
    value = setting.typed_value()
    if setting.type is SettingType.STRING:
        message.string_value = str(value)
    elif setting.type is SettingType.INTEGER and type(value) is int:
        message.integer_value = value
    elif setting.type is SettingType.BOOLEAN:
        message.boolean_value = bool(value)
    else:
        message.json_value = setting.value or ""
    return message


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def CreateUser(self, request: pb.CreateUserRequest, context: Context) -> pb.CreateUserResponse:  # noqa: N802
        require_service("CreateUser")
        cmd = commands.CreateUser(
            name=request.name,
            email=request.email,
            password=request.password,
            role=ROLES_BACK.get(request.role, UserRole.CLIENT),
            status=STATUSES_BACK.get(request.status, UserStatus.PENDING),
        )
        user = await asyncio.to_thread(handlers.create_user, cmd, self._identity.uow())
        return pb.CreateUserResponse(user=user_message(user))

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Context) -> pb.CreateApiKeyResponse:  # noqa: N802
        require_self(request.user_id, "API keys")
        cmd = commands.CreateApiKey(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            scopes=tuple(request.scopes),
            rate_limit=request.rate_limit,
            expires_at=request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None,
        )
        key, secret = await asyncio.to_thread(handlers.create_api_key, cmd, self._identity.uow())
        return pb.CreateApiKeyResponse(api_key=api_key_message(key), secret=secret)

    async def AuthenticateApiKey(  # noqa: N802
        self, request: pb.AuthenticateApiKeyRequest, context: Context
    ) -> pb.AuthenticateApiKeyResponse:
        require_service("AuthenticateApiKey")
        key, user = await asyncio.to_thread(handlers.authenticate_api_key, request.secret, self._identity.uow())
        return pb.AuthenticateApiKeyResponse(api_key=api_key_message(key), user_role=ROLES[user.role])

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Context) -> pb.RevokeApiKeyResponse:  # noqa: N802
        key = await asyncio.to_thread(
            handlers.revoke_api_key, request.api_key_id, self._identity.uow(), owner_id=owner_constraint()
        )
        return pb.RevokeApiKeyResponse(api_key=api_key_message(key))

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: Context) -> pb.ListApiKeysResponse:  # noqa: N802
        require_self(request.user_id, "API keys")
        keys = await asyncio.to_thread(handlers.list_api_keys, request.user_id, self._identity.uow())
        return pb.ListApiKeysResponse(api_keys=[api_key_message(k) for k in keys])

    async def ReserveQuota(self, request: pb.ReserveQuotaRequest, context: Context) -> pb.ReserveQuotaResponse:  # noqa: N802
        require_service("ReserveQuota")
        owner_field = request.WhichOneof("owner")
        if owner_field is None:
            raise InvalidInput("name the quota's owner: user_id or organization_id")
        owner = (
            QuotaOwner(user_id=request.user_id)
            if owner_field == "user_id"
            else QuotaOwner(organization_id=request.organization_id)
        )
        cmd = commands.ReserveQuota(
            reservation_key=request.reservation_key,
            owner=owner,
            resource_type=request.resource_type,
            amount=request.amount,
        )
        reservation, quota = await asyncio.to_thread(handlers.reserve_quota, cmd, self._identity.uow)
        return pb.ReserveQuotaResponse(reservation=reservation_message(reservation), quota=quota_message(quota))

    async def ReleaseQuota(self, request: pb.ReleaseQuotaRequest, context: Context) -> pb.ReleaseQuotaResponse:  # noqa: N802
        require_service("ReleaseQuota")
        reservation, quota = await asyncio.to_thread(
            handlers.release_quota, request.reservation_key, self._identity.uow
        )
        return pb.ReleaseQuotaResponse(reservation=reservation_message(reservation), quota=quota_message(quota))

    async def GetSetting(self, request: pb.GetSettingRequest, context: Context) -> pb.GetSettingResponse:  # noqa: N802
        require_service("GetSetting")
        setting = await asyncio.to_thread(handlers.get_setting, request.key, self._identity.uow())
        return pb.GetSettingResponse(setting=setting_message(setting))

    async def SetSetting(self, request: pb.SetSettingRequest, context: Context) -> pb.SetSettingResponse:  # noqa: N802
        require_service("SetSetting")
        which = request.WhichOneof("value")
        if which is None:
            raise InvalidInput("send the new value in the field of the setting's type")
        sent_as = SettingType(which.removesuffix("_value"))
        cmd = commands.SetSetting(key=request.key, value=getattr(request, which), sent_as=sent_as)
        setting = await asyncio.to_thread(handlers.set_setting, cmd, self._identity.uow())
        return pb.SetSettingResponse(setting=setting_message(setting))

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
        user = await asyncio.to_thread(handlers.login, cmd, self._identity.uow())
        return pb.LoginResponse(user=user_message(user))

    async def ListLoginActivity(  # noqa: N802
        self, request: pb.ListLoginActivityRequest, context: Context
    ) -> pb.ListLoginActivityResponse:
        require_self(request.user_id, "login activity")
        attempts, page, per_page, total = await asyncio.to_thread(
            handlers.list_login_activity, request.user_id, request.page, request.per_page, self._identity.uow()
        )
        return pb.ListLoginActivityResponse(
            login_activity=[login_activity_message(a) for a in attempts],
            page=page,
            per_page=per_page,
            total_entries=total,
        )

    async def CreateOrganization(  # noqa: N802
        self, request: pb.CreateOrganizationRequest, context: Context
    ) -> pb.CreateOrganizationResponse:
        require_acting_self(request.acting_user_id)
        cmd = commands.CreateOrganization(acting_user_id=request.acting_user_id, name=request.name, slug=request.slug)
        organization, owner = await asyncio.to_thread(handlers.create_organization, cmd, self._identity.uow())
        return pb.CreateOrganizationResponse(
            organization=organization_message(organization), owner=member_message(owner)
        )

    async def GetOrganization(  # noqa: N802
        self, request: pb.GetOrganizationRequest, context: Context
    ) -> pb.GetOrganizationResponse:
        require_acting_self(request.acting_user_id)
        organization, members = await asyncio.to_thread(
            partial(handlers.get_organization, as_platform_admin=acting_as_platform_admin()),
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
        found = await asyncio.to_thread(handlers.list_organizations_for_user, request.user_id, self._identity.uow())
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
            role=_grantable_role(request.role),
            permissions=tuple(request.permissions),
        )
        member = await asyncio.to_thread(handlers.add_member, cmd, self._identity.uow())
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
            role=_grantable_role(request.role),
            as_platform_admin=acting_as_platform_admin(),
        )
        member = await asyncio.to_thread(handlers.change_member_role, cmd, self._identity.uow())
        return pb.ChangeMemberRoleResponse(member=member_message(member))

    async def RemoveMember(self, request: pb.RemoveMemberRequest, context: Context) -> pb.RemoveMemberResponse:  # noqa: N802
        require_acting_self(request.acting_user_id)
        cmd = commands.RemoveMember(
            acting_user_id=request.acting_user_id,
            organization_id=request.organization_id,
            user_id=request.user_id,
            as_platform_admin=acting_as_platform_admin(),
        )
        await asyncio.to_thread(handlers.remove_member, cmd, self._identity.uow())
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
        organization, members = await asyncio.to_thread(handlers.transfer_ownership, cmd, self._identity.uow())
        return pb.TransferOwnershipResponse(
            organization=organization_message(organization), members=[member_message(m) for m in members]
        )

    async def IssuePrincipal(  # noqa: N802
        self, request: pb.IssuePrincipalRequest, context: Context
    ) -> pb.IssuePrincipalResponse:
        require_service("IssuePrincipal")
        signing_key = self._identity.signing_key
        if signing_key is None:
            raise Unavailable("this identity service has no principal signing key configured")
        credential = request.WhichOneof("credential")
        if credential == "api_key_secret":
            principal = await asyncio.to_thread(
                handlers.principal_for_api_key, request.api_key_secret, self._identity.uow(), request.client_ip
            )
        elif credential == "session_token":
            principal = await asyncio.to_thread(
                accounts.principal_for_session, request.session_token, signing_key, self._identity.uow()
            )
        else:
            raise InvalidInput("give a credential: api_key_secret or session_token")
        return pb.IssuePrincipalResponse(principal=sign(principal, signing_key), expires_at=_ts(principal.expires_at))


def add_identity_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["IdentityService"].full_name]
