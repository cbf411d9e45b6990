"""Accounts, organizations, logins, API keys, quotas and settings as plain values, with the
rules that govern them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cpshared.errors import Forbidden, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from identity_service.domain.events import Locked, LoginFailed, LoginSucceeded, Recorded, UserEvent


class UserRole(StrEnum):
    ADMIN = "admin"
    CLIENT = "client"
    SUPPORT = "support"
    BILLING = "billing"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING = "pending"
    BANNED = "banned"


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 255 or not EMAIL.match(email):
        raise InvalidInput(f"email {email!r} is not an email address: use the form name@example.com")
    return email


def check_name(name: str, what: str = "name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= 255:
        raise InvalidInput(f"{what} must be 1 to 255 characters long")
    return name


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")


@dataclass
class User:
    """The user aggregate. Its sign-in rules change it through :meth:`signed_in` and
    :meth:`sign_in_refused`, which bump its version and record what happened in
    :attr:`events`; the unit of work collects them when it commits."""

    id: int
    name: str
    email: str
    role: UserRole
    status: UserStatus
    created_at: datetime
    password_hash: str | None = None
    """Stays inside the service: the gRPC adapter has no field to put it in."""
    version: int = 1
    """Aggregate version of the user: bumped with every event recorded about them."""
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)
    """Recorded and not yet collected by a unit of work (a copy made with ``replace`` starts without)."""

    @property
    def login_state(self) -> LoginState:
        return LoginState(failed_logins=self.failed_logins, locked_until=self.locked_until)

    def signed_in(self, login_activity_id: int, ip: str, now: datetime) -> None:
        """A successful sign-in: the lockout count starts afresh."""
        self.failed_logins, self.locked_until, self.last_login_at = 0, None, now
        self._record(LoginSucceeded(user_id=self.id, login_activity_id=login_activity_id, ip=ip))

    def sign_in_refused(
        self, login_activity_id: int, ip: str, reason: LoginFailure, policy: LockoutPolicy, now: datetime
    ) -> None:
        """A refused attempt. A wrong password or second-factor code counts towards the lockout,
        and the one that reaches the policy's limit locks the account; any other refusal (a
        locked account, its status, a missing second factor) leaves the count as it is."""
        before = self.login_state
        counted = reason in COUNTED_FAILURES
        after = before.after_wrong_password(policy, now) if counted else before
        self.failed_logins, self.locked_until = after.failed_logins, after.locked_until
        self._record(
            LoginFailed(
                user_id=self.id,
                login_activity_id=login_activity_id,
                ip=ip,
                reason=reason.value,
                failed_logins=after.failed_logins,
            )
        )
        if counted and after.locked_until is not None and after.locked(now):
            self._record(
                Locked(
                    user_id=self.id,
                    ip=ip,
                    reason="too_many_failed_logins",
                    failed_logins=before.failed_logins + 1,
                    locked_until=after.locked_until,
                )
            )

    def pop_events(self) -> list[Recorded]:
        recorded, self.events = self.events, []
        return recorded

    def _record(self, event: UserEvent) -> None:
        self.version += 1
        self.events.append(Recorded(version=self.version, event=event))


@dataclass(frozen=True)
class ApiKey:
    id: int
    user_id: int
    organization_id: int | None
    name: str
    last_four: str
    scopes: tuple[str, ...]
    rate_limit: int
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_ip: str | None = None

    def refusal(self, now: datetime) -> str | None:
        """Why the key may not be used now, or None when it may."""
        if self.revoked_at is not None:
            return "the API key was revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "the API key has expired"
        return None


SCOPE = re.compile(r"^(\*|[a-z][a-z_]{0,49}):(read|write)$")
DEFAULT_RATE_LIMIT = 1000
MAX_RATE_LIMIT = 1_000_000
ADMIN_SCOPES = ("*:read", "*:write")


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not scopes:
        raise InvalidInput("an API key needs at least one scope, e.g. 'servers:read'")
    bad = [s for s in scopes if not SCOPE.match(s)]
    if bad:
        raise InvalidInput(f"scopes {bad} are not '<resource family>:<read|write>' (family '*' means every family)")
    return tuple(dict.fromkeys(scopes))


def check_rate_limit(rate_limit: int) -> int:
    if rate_limit == 0:
        return DEFAULT_RATE_LIMIT
    if not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise InvalidInput(f"rate_limit must be 1 to {MAX_RATE_LIMIT} requests per hour (0 for the default)")
    return rate_limit


# -- quotas ---------------------------------------------------------------------------------

RESOURCE_TYPE = re.compile(r"^[a-z][a-z_]{0,49}$")
RESERVATION_KEY_MAX = 100


@dataclass(frozen=True)
class QuotaOwner:
    """Exactly one of a user and an organization."""

    user_id: int | None = None
    organization_id: int | None = None

    def __post_init__(self) -> None:
        if (self.user_id is None) == (self.organization_id is None):
            raise InvalidInput("a quota belongs to exactly one of a user and an organization")
        if (self.user_id or self.organization_id or 0) <= 0:
            raise InvalidInput("the quota owner's id must be a positive integer")


def check_resource_type(resource_type: str) -> str:
    if not RESOURCE_TYPE.match(resource_type):
        raise InvalidInput(f"resource_type {resource_type!r} must be lower-case letters and underscores, e.g. 'server'")
    return resource_type


def check_reservation_key(key: str) -> str:
    if not 1 <= len(key) <= RESERVATION_KEY_MAX:
        raise InvalidInput(f"reservation_key must be 1 to {RESERVATION_KEY_MAX} characters long")
    return key


@dataclass(frozen=True)
class Quota:
    id: int
    owner: QuotaOwner
    resource_type: str
    quota_limit: int
    current_usage: int
    version: int

    def reserve(self, amount: int) -> Quota:
        if amount < 1:
            raise InvalidInput("amount must be at least 1")
        if self.current_usage + amount > self.quota_limit:
            raise LimitExceeded(
                f"the {self.resource_type} quota is {self.quota_limit} and {self.current_usage} are in use: "
                f"{amount} more would exceed it; release some or ask support to raise the limit",
                details={"limit": self.quota_limit, "usage": self.current_usage, "requested": amount},
            )
        return replace(self, current_usage=self.current_usage + amount, version=self.version + 1)

    def release(self, amount: int) -> Quota:
        # Never below zero, even if a limit was lowered or usage corrected by hand meanwhile.
        return replace(self, current_usage=max(0, self.current_usage - amount), version=self.version + 1)


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"


@dataclass(frozen=True)
class Reservation:
    key: str
    quota_id: int
    owner: QuotaOwner
    resource_type: str
    amount: int
    status: ReservationStatus
    created_at: datetime
    released_at: datetime | None = None

    def same_request(self, owner: QuotaOwner, resource_type: str, amount: int) -> bool:
        return (self.owner, self.resource_type, self.amount) == (owner, resource_type, amount)


# -- settings -------------------------------------------------------------------------------


class SettingType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    JSON = "json"


SettingValue = object
"""str, int, bool, or a decoded JSON document: what a setting of each type holds."""


@dataclass(frozen=True)
class Setting:
    key: str
    type: SettingType
    value: str | None
    """As stored: the canonical text of the typed value."""
    description: str
    version: int
    updated_at: datetime | None

    def typed_value(self) -> SettingValue:
        return parse_setting(self.type, self.value or "")


def parse_setting(kind: SettingType, text: str) -> SettingValue:
    """The typed value of a stored setting; raises InvalidInput when ``text`` is not of ``kind``."""
    if kind is SettingType.STRING:
        return text
    if kind is SettingType.INTEGER:
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{text!r} is not an integer") from None
    if kind is SettingType.BOOLEAN:
        if text not in ("true", "false"):
            raise InvalidInput(f"{text!r} is not a boolean: use true or false")
        return text == "true"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the value is not valid JSON: {exc}") from None


def setting_text(kind: SettingType, value: SettingValue) -> str:
    """The canonical stored text of ``value`` for a setting of type ``kind``, checked.

    ``bool`` is a subclass of ``int`` in Python, so the checks are by exact type.
    """
    if kind is SettingType.STRING and type(value) is str:
        if len(value.encode()) > 65_535:
            raise InvalidInput("a string setting holds at most 65535 bytes")
        return value
    if kind is SettingType.INTEGER and type(value) is int:
        return str(value)
    if kind is SettingType.BOOLEAN and type(value) is bool:
        return "true" if value else "false"
    if kind is SettingType.JSON and type(value) is str:
        parse_setting(kind, value)
        return value
    raise InvalidInput(f"this setting is of type {kind.value}: send a {kind.value} value")


# -- organizations --------------------------------------------------------------------------

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidInput(
            f"slug {slug!r} must be 1 to 63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit, e.g. 'acme-cloud'"
        )
    return slug


class OrganizationRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    BILLING = "billing"


MANAGING_ROLES = frozenset({OrganizationRole.OWNER, OrganizationRole.ADMIN})


class OrganizationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TRIAL = "trial"


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    slug: str
    owner_id: int
    status: OrganizationStatus
    created_at: datetime
    version: int = 1
    billing_email: str | None = None
    country: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True)
class Membership:
    organization_id: int
    user_id: int
    role: OrganizationRole
    permissions: tuple[str, ...]
    invited_by: int | None
    joined_at: datetime


def check_permissions(permissions: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Per-member permissions: scopes as API keys have them; none is allowed (the role decides)."""
    return check_scopes(permissions) if permissions else ()


def check_grantable(role: OrganizationRole) -> OrganizationRole:
    """Owner is never granted directly: an organization has exactly one, moved by a transfer."""
    if role is OrganizationRole.OWNER:
        raise InvalidInput("an organization has exactly one owner: use TransferOwnership to make someone the owner")
    return role


def require_member(actor: Membership | None, organization_id: int) -> Membership:
    # Not "forbidden": to someone outside, another tenant's organization does not exist.
    if actor is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return actor


def require_manager(actor: Membership | None, organization_id: int) -> Membership:
    member = require_member(actor, organization_id)
    if member.role not in MANAGING_ROLES:
        raise Forbidden(f"only the owner or an admin of organization {organization_id} may manage its members")
    return member


def check_role_change(actor: Membership | None, target: Membership, organization_id: int) -> None:
    require_manager(actor, organization_id)
    if target.role is OrganizationRole.OWNER:
        raise PreconditionFailed("the owner's role changes only by TransferOwnership to another member")


def check_removal(actor: Membership | None, target: Membership, organization_id: int) -> None:
    """Managers remove members; anyone may leave; the owner is never removed (the last owner)."""
    member = require_member(actor, organization_id)
    if target.role is OrganizationRole.OWNER:
        raise PreconditionFailed(
            "the owner cannot be removed: an organization always has one owner; transfer ownership first"
        )
    if member.user_id != target.user_id:
        require_manager(member, organization_id)


def check_transfer(actor: Membership | None, new_owner: Membership | None, organization_id: int) -> Membership:
    member = require_member(actor, organization_id)
    if member.role is not OrganizationRole.OWNER:
        raise Forbidden(f"only the owner of organization {organization_id} may transfer its ownership")
    if new_owner is None:
        raise PreconditionFailed("the new owner must be a member of the organization already: add them first")
    if new_owner.user_id == member.user_id:
        raise InvalidInput("the new owner is the owner already")
    return new_owner


# -- logins ---------------------------------------------------------------------------------


class LoginFailure(StrEnum):
    """The failure_reason of a login_activity row."""

    UNKNOWN_EMAIL = "unknown_email"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a failure reason, not a password
    LOCKED = "locked"
    SUSPENDED = "suspended"
    BANNED = "banned"
    PENDING = "pending"
    TWO_FACTOR_REQUIRED = "two_factor_required"
    """Right password, no second factor sent: recorded, but not counted towards the lockout."""
    WRONG_TWO_FACTOR_CODE = "wrong_two_factor_code"
    """A wrong or already used TOTP or recovery code: counted like a wrong password."""


STATUS_FAILURES = {
    UserStatus.SUSPENDED: LoginFailure.SUSPENDED,
    UserStatus.BANNED: LoginFailure.BANNED,
    UserStatus.PENDING: LoginFailure.PENDING,
}

LOGIN_MAX_FAILURES_SETTING = "login_max_failures"
LOGIN_LOCKOUT_MINUTES_SETTING = "login_lockout_minutes"


@dataclass(frozen=True)
class LockoutPolicy:
    """After ``max_failures`` wrong passwords in a row an account is locked for ``lockout``."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.lockout <= timedelta(0):
            raise InvalidInput("a lockout policy needs at least 1 failure and a positive lockout time")


@dataclass(frozen=True)
class LoginState:
    """The user row's lockout counter: consecutive wrong passwords since the last success or lock."""

    failed_logins: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_wrong_password(self, policy: LockoutPolicy, now: datetime) -> LoginState:
        """One more failure; the one that reaches the limit locks and starts a fresh count, so
        that after the lockout the account again gets ``max_failures`` tries."""
        failed = self.failed_logins + 1
        if failed >= policy.max_failures:
            return LoginState(failed_logins=0, locked_until=now + policy.lockout)
        return LoginState(failed_logins=failed, locked_until=None)


LOGIN_SUCCEEDED_STATE = LoginState(failed_logins=0, locked_until=None)

COUNTED_FAILURES = frozenset({LoginFailure.WRONG_PASSWORD, LoginFailure.WRONG_TWO_FACTOR_CODE})
"""The refusals that count towards the lockout: guesses at a credential."""


@dataclass(frozen=True)
class LoginAttempt:
    """A login_activity row."""

    id: int
    user_id: int | None
    ip_address: str
    user_agent: str
    success: bool
    failure_reason: LoginFailure | None
    created_at: datetime
