"""What callers ask the identity service to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from identity_service.domain.model import (
    OrganizationRole,
    QuotaOwner,
    SettingType,
    SettingValue,
    UserRole,
    UserStatus,
)


@dataclass(frozen=True)
class CreateUser:
    name: str
    email: str
    password: str
    role: UserRole = UserRole.CLIENT
    status: UserStatus = UserStatus.PENDING


@dataclass(frozen=True)
class CreateApiKey:
    user_id: int
    name: str
    scopes: tuple[str, ...]
    organization_id: int | None = None
    rate_limit: int = 0
    expires_at: datetime | None = None


@dataclass(frozen=True)
class UpdateApiKey:
    api_key_id: int
    name: str | None = None
    scopes: tuple[str, ...] | None = None
    rate_limit: int | None = None
    owner_id: int | None = None
    """With an owner, only a key of that user (another's answers as missing)."""


@dataclass(frozen=True)
class RotateApiKey:
    api_key_id: int
    grace_period_seconds: int
    owner_id: int | None = None


@dataclass(frozen=True)
class ReserveQuota:
    reservation_key: str
    owner: QuotaOwner
    resource_type: str
    amount: int = 1


@dataclass(frozen=True)
class SetSetting:
    key: str
    value: SettingValue = field(default="")
    sent_as: SettingType | None = None
    """The type the caller sent the value as (JSON and string are both text), if it says."""


@dataclass(frozen=True)
class Login:
    email: str
    password: str = field(repr=False)
    ip: str
    user_agent: str = ""
    totp_code: str = field(default="", repr=False)
    """The authenticator app's current code, for an account with two-factor authentication on."""
    recovery_code: str = field(default="", repr=False)
    """Instead of a TOTP code: an unused recovery code, used up by the sign-in."""


@dataclass(frozen=True)
class CreateOrganization:
    acting_user_id: int
    """Becomes the owner."""
    name: str
    slug: str


@dataclass(frozen=True)
class AddMember:
    acting_user_id: int
    organization_id: int
    user_id: int
    role: OrganizationRole = OrganizationRole.MEMBER
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeMemberRole:
    acting_user_id: int
    organization_id: int
    user_id: int
    role: OrganizationRole
    as_platform_admin: bool = False
    """The acting user is a platform admin: acts as an admin of any organization."""


@dataclass(frozen=True)
class RemoveMember:
    acting_user_id: int
    organization_id: int
    user_id: int
    as_platform_admin: bool = False
    """The acting user is a platform admin: acts as an admin of any organization."""


@dataclass(frozen=True)
class TransferOwnership:
    acting_user_id: int
    organization_id: int
    new_owner_id: int
    as_platform_admin: bool = False
    """A platform admin sees the organization, but the transfer stays the owner's own act."""
