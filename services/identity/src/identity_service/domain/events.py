"""What happened to an identity aggregate, as the aggregate records it: plain values, in the
order they happened. The unit of work turns them into the outbox events of the contract
(cloudplatform.identity.v1) when it commits: each field is the payload field of the same name
(a time becomes a Timestamp; None leaves the field unset, which for a number means 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class LoginSucceeded:
    user_id: int
    login_activity_id: int
    ip: str


@dataclass(frozen=True)
class LoginFailed:
    user_id: int
    login_activity_id: int
    ip: str
    reason: str
    """A LoginFailure's value."""
    failed_logins: int
    """The count after this attempt (0 when it locked the account: the count starts afresh)."""


@dataclass(frozen=True)
class Locked:
    user_id: int
    ip: str
    reason: str
    failed_logins: int
    """The wrong attempts in a row that caused the lock."""
    locked_until: datetime


@dataclass(frozen=True)
class UserCreated:
    user_id: int
    role: str
    status: str


@dataclass(frozen=True)
class UserStatusChanged:
    user_id: int
    old_status: str
    new_status: str
    reason: str
    changed_by_user_id: int
    requested_by: str = ""
    """The service on whose request it changed ("billing"); empty when staff changed it."""


class UserActivated(UserStatusChanged):
    pass


class UserSuspended(UserStatusChanged):
    pass


class UserBanned(UserStatusChanged):
    pass


@dataclass(frozen=True)
class UserErased:
    user_id: int
    erased_by_user_id: int


@dataclass(frozen=True)
class EmailVerified:
    user_id: int
    verification_id: int
    status: str


@dataclass(frozen=True)
class ProfileUpdated:
    user_id: int
    changed_fields: tuple[str, ...]
    country: str | None = None
    """Billing taxes by country and VAT id: those two travel with their new value when they
    changed (None: unchanged; '' cleared)."""
    tax_id: str | None = None


@dataclass(frozen=True)
class PasswordChanged:
    user_id: int
    revoked_sessions: int


@dataclass(frozen=True)
class PasswordReset:
    """A new password set with a reset token from the mail (no current password proved)."""

    user_id: int
    revoked_sessions: int
    unlocked: bool
    """Whether the reset lifted a lockout from wrong passwords."""


@dataclass(frozen=True)
class TwoFactorEnabled:
    user_id: int
    confirmed_at: datetime
    recovery_codes: int


@dataclass(frozen=True)
class TwoFactorDisabled:
    user_id: int
    proved_with: str
    """"totp" or "recovery_code"."""


@dataclass(frozen=True)
class RecoveryCodesRegenerated:
    user_id: int
    recovery_codes: int


UserEvent = (
    LoginSucceeded
    | LoginFailed
    | Locked
    | UserCreated
    | UserStatusChanged
    | UserErased
    | EmailVerified
    | ProfileUpdated
    | PasswordChanged
    | PasswordReset
    | TwoFactorEnabled
    | TwoFactorDisabled
    | RecoveryCodesRegenerated
)


# -- organizations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationCreated:
    organization_id: int
    owner_user_id: int
    status: str


@dataclass(frozen=True)
class OrganizationTrialEnded:
    organization_id: int
    trial_ends_at: datetime
    new_status: str


@dataclass(frozen=True)
class OrganizationMemberAdded:
    organization_id: int
    user_id: int
    role: str
    invited_by_user_id: int | None
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class OrganizationMemberRoleChanged:
    organization_id: int
    user_id: int
    old_role: str
    new_role: str
    changed_by_user_id: int


@dataclass(frozen=True)
class OrganizationMemberRemoved:
    organization_id: int
    user_id: int
    role: str
    removed_by_user_id: int


@dataclass(frozen=True)
class OrganizationOwnershipTransferred:
    organization_id: int
    old_owner_user_id: int
    new_owner_user_id: int
    new_owner_previous_role: str


@dataclass(frozen=True)
class OrganizationMemberInvited:
    organization_id: int
    invitation_id: int
    role: str
    permissions: tuple[str, ...]
    invited_by_user_id: int | None
    expires_at: datetime


@dataclass(frozen=True)
class OrganizationInvitationRevoked:
    organization_id: int
    invitation_id: int
    revoked_by_user_id: int
    reason: str
    """"revoked", or "replaced" by a new invitation of the same address."""


@dataclass(frozen=True)
class OrganizationInvitationAccepted:
    organization_id: int
    invitation_id: int
    user_id: int
    role: str


@dataclass(frozen=True)
class OrganizationUpdated:
    organization_id: int
    changed_fields: tuple[str, ...]
    updated_by_user_id: int
    country: str | None = None
    """Billing invoices by country, VAT id and name: those travel with their new value when
    they changed (None: unchanged; '' cleared)."""
    tax_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class OrganizationMemberPermissionsChanged:
    organization_id: int
    user_id: int
    old_permissions: tuple[str, ...]
    new_permissions: tuple[str, ...]
    changed_by_user_id: int


@dataclass(frozen=True)
class OrganizationStatusChanged:
    organization_id: int
    old_status: str
    new_status: str
    reason: str
    changed_by_user_id: int
    requested_by: str = ""
    """The service on whose request it changed ("billing"); empty when staff changed it."""


class OrganizationSuspended(OrganizationStatusChanged):
    pass


class OrganizationActivated(OrganizationStatusChanged):
    pass


OrganizationEvent = (
    OrganizationCreated
    | OrganizationMemberAdded
    | OrganizationMemberRoleChanged
    | OrganizationMemberRemoved
    | OrganizationOwnershipTransferred
    | OrganizationMemberInvited
    | OrganizationInvitationRevoked
    | OrganizationInvitationAccepted
    | OrganizationUpdated
    | OrganizationMemberPermissionsChanged
    | OrganizationStatusChanged
    | OrganizationTrialEnded
)


# -- API keys, sessions, quotas, settings -----------------------------------------------------


@dataclass(frozen=True)
class ApiKeyCreated:
    api_key_id: int
    user_id: int
    organization_id: int | None
    name: str
    last_four: str
    scopes: tuple[str, ...]
    rate_limit: int
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiKeyRevoked:
    api_key_id: int
    user_id: int
    organization_id: int | None
    revoked_at: datetime


@dataclass(frozen=True)
class ApiKeyUpdated:
    api_key_id: int
    user_id: int
    organization_id: int | None
    name: str
    scopes: tuple[str, ...]
    rate_limit: int


@dataclass(frozen=True)
class ApiKeyRotated:
    api_key_id: int
    user_id: int
    organization_id: int | None
    successor_api_key_id: int
    retires_at: datetime


@dataclass(frozen=True)
class SessionCreated:
    session_id: int
    user_id: int
    ip: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionRefreshed:
    session_id: int
    user_id: int
    ip: str


@dataclass(frozen=True)
class SessionRevoked:
    session_id: int
    user_id: int
    reason: str
    revoked_by_user_id: int
    """0 when nobody asked (a reused refresh token ended it)."""


@dataclass(frozen=True)
class QuotaReserved:
    quota_id: int
    user_id: int | None
    organization_id: int | None
    resource_type: str
    reservation_key: str
    amount: int
    current_usage: int
    quota_limit: int


@dataclass(frozen=True)
class QuotaReleased:
    quota_id: int
    user_id: int | None
    organization_id: int | None
    resource_type: str
    reservation_key: str
    amount: int
    current_usage: int
    quota_limit: int


@dataclass(frozen=True)
class QuotaLimitChanged:
    quota_id: int
    user_id: int | None
    organization_id: int | None
    resource_type: str
    old_limit: int
    new_limit: int
    current_usage: int
    changed_by_user_id: int


@dataclass(frozen=True)
class SettingChanged:
    key: str
    type: str
    old_value: str
    new_value: str


IdentityEvent = (
    UserEvent
    | OrganizationEvent
    | ApiKeyCreated
    | ApiKeyRevoked
    | ApiKeyUpdated
    | ApiKeyRotated
    | SessionCreated
    | SessionRefreshed
    | SessionRevoked
    | QuotaReserved
    | QuotaReleased
    | QuotaLimitChanged
    | SettingChanged
)


@dataclass(frozen=True)
class Recorded:
    """One event and the aggregate version it brought the aggregate to."""

    version: int
    event: IdentityEvent
    order: int = field(default=0, compare=False)
    """When it was recorded among the events of every aggregate (the outbox keeps that order)."""
