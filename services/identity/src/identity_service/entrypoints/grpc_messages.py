"""Identity's domain objects as the protobuf messages of its gRPC API, and back: one mapping
every identity servicer uses. No message has a field for a password hash or an API key's hash."""

from __future__ import annotations

from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from identity_service.domain.model import (
    ApiKey,
    LoginAttempt,
    LoginFailure,
    Membership,
    Organization,
    OrganizationRole,
    OrganizationStatus,
    Quota,
    Reservation,
    ReservationStatus,
    Setting,
    SettingType,
    User,
    UserRole,
    UserStatus,
)

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
        trial_ends_at=_ts(organization.trial_ends_at),
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


def grantable_role(role: pb.OrganizationRole.ValueType) -> OrganizationRole:
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
