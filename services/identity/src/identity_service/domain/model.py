"""Accounts, organizations, logins, API keys, quotas and settings as plain values, with the
rules that govern them."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from cpshared.errors import AlreadyExists, Forbidden, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from identity_service.domain import events
from identity_service.domain.aggregate import Aggregate
from identity_service.domain.events import Locked, LoginFailed, LoginSucceeded, Recorded

if TYPE_CHECKING:
    from identity_service.domain.invitations import Invitation


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


STATUS_EVENTS: dict[UserStatus, type[events.UserStatusChanged]] = {
    UserStatus.ACTIVE: events.UserActivated,
    UserStatus.SUSPENDED: events.UserSuspended,
    UserStatus.BANNED: events.UserBanned,
}
"""A status change is announced as the event of the status it reaches."""

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


@dataclass
class User(Aggregate):
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
    """The account-wide lock of before (migration 0008): no longer set, since a lock anybody can
    cause by guessing is a weapon against the owner; failures count per (account, address) now,
    :class:`SignInFailures`."""
    last_login_at: datetime | None = None
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)
    """Recorded and not yet collected by a unit of work (a copy made with ``replace`` starts without)."""

    def created(self) -> None:
        """Announce the new account, at its first version."""
        self._record(events.UserCreated(user_id=self.id, role=self.role.value, status=self.status.value), bump=False)

    def change_status(self, status: UserStatus, reason: str, changed_by_user_id: int, requested_by: str = "") -> None:
        """Staff move the account to ``status`` (who may, and which moves are allowed, is
        :func:`identity_service.domain.staff.check_status_change`), or a service asks for it
        (``requested_by``: billing's dunning, :mod:`identity_service.domain.dunning`)."""
        old, self.status = self.status, status
        self._record(
            STATUS_EVENTS[status](
                user_id=self.id,
                old_status=old.value,
                new_status=status.value,
                reason=reason,
                changed_by_user_id=changed_by_user_id,
                requested_by=requested_by,
            )
        )

    def erase(self, erased_by_user_id: int) -> None:
        """The account's personal data goes (the repository blanks it); the id and role stay, banned."""
        self.status = UserStatus.BANNED
        self._record(events.UserErased(user_id=self.id, erased_by_user_id=erased_by_user_id))

    def signed_in(self, login_activity_id: int, ip: str, now: datetime) -> None:
        """A successful sign-in: the lockout count starts afresh."""
        self.failed_logins, self.locked_until, self.last_login_at = 0, None, now
        self._record(LoginSucceeded(user_id=self.id, login_activity_id=login_activity_id, ip=ip))

    def sign_in_refused(
        self,
        login_activity_id: int,
        ip: str,
        reason: LoginFailure,
        policy: LockoutPolicy,
        failures: SignInFailures,
    ) -> None:
        """A refused attempt, with ``failures`` the count of the (account, address) pair after it
        (:class:`SignInFailures`). A wrong password or second-factor code counts (the caller
        passes the pair after :meth:`SignInFailures.failed`), and the one that reaches the
        policy's limit locks the pair, never the account: the owner still signs in from
        elsewhere. Any other refusal leaves the count as it is."""
        counted = reason in COUNTED_FAILURES
        self._record(
            LoginFailed(
                user_id=self.id,
                login_activity_id=login_activity_id,
                ip=ip,
                reason=reason.value,
                failed_logins=failures.failures,
            )
        )
        if counted and failures.failures == policy.max_failures and failures.blocked_until is not None:
            self._record(
                Locked(
                    user_id=self.id,
                    ip=ip,
                    reason="too_many_failed_logins",
                    failed_logins=failures.failures,
                    locked_until=failures.blocked_until,
                )
            )


@dataclass
class ApiKey(Aggregate):
    """An API key: created at version 1; renamed, re-scoped or rotated while live; revoked
    once and for good. Its version is stored (``api_keys.version``)."""

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
    version: int = field(default=1, compare=False)
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def refusal(self, now: datetime) -> str | None:
        """Why the key may not be used now, or None when it may."""
        if self.revoked_at is not None:
            return "the API key was revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "the API key has expired"
        return None

    def created(self) -> None:
        """Announce the new key (its secret never leaves the caller: the event has the last four)."""
        self._record(
            events.ApiKeyCreated(
                api_key_id=self.id,
                user_id=self.user_id,
                organization_id=self.organization_id,
                name=self.name,
                last_four=self.last_four,
                scopes=self.scopes,
                rate_limit=self.rate_limit,
                expires_at=self.expires_at,
            ),
            bump=False,
        )

    def update(self, *, name: str | None, scopes: tuple[str, ...] | None, rate_limit: int | None) -> bool:
        """Rename, re-scope or change the rate limit; False (nothing recorded) when nothing changes."""
        changed = False
        for attribute, value in (("name", name), ("scopes", scopes), ("rate_limit", rate_limit)):
            if value is not None and getattr(self, attribute) != value:
                setattr(self, attribute, value)
                changed = True
        if changed:
            self._record(
                events.ApiKeyUpdated(
                    api_key_id=self.id,
                    user_id=self.user_id,
                    organization_id=self.organization_id,
                    name=self.name,
                    scopes=self.scopes,
                    rate_limit=self.rate_limit,
                )
            )
        return changed

    def retire(self, successor_id: int, grace: timedelta, now: datetime) -> None:
        """Replaced by ``successor_id``: the key works for ``grace`` more (never past its own
        expiry), and is revoked at once when ``grace`` is zero."""
        retires_at = now + grace
        if self.expires_at is not None and self.expires_at < retires_at:
            retires_at = self.expires_at
        self._record(
            events.ApiKeyRotated(
                api_key_id=self.id,
                user_id=self.user_id,
                organization_id=self.organization_id,
                successor_api_key_id=successor_id,
                retires_at=retires_at,
            )
        )
        if grace <= timedelta(0):
            self.revoke(now)
        else:
            self.expires_at = retires_at

    def revoke(self, now: datetime) -> bool:
        """Revoke the key; False (and nothing recorded) when it was revoked already."""
        if self.revoked_at is not None:
            return False
        self.revoked_at = now
        self._record(
            events.ApiKeyRevoked(
                api_key_id=self.id, user_id=self.user_id, organization_id=self.organization_id, revoked_at=now
            )
        )
        return True


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


@dataclass
class Quota(Aggregate):
    """A resource quota of one owner. Reservations are idempotent by their key: the service
    layer finds an earlier reservation of a key before asking the quota again."""

    id: int
    owner: QuotaOwner
    resource_type: str
    quota_limit: int
    current_usage: int
    version: int
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def reserve(self, reservation_key: str, amount: int, now: datetime, cap: TrialCap | None = None) -> Reservation:
        """``cap``: the organization is on trial, and its trial limit (when lower) applies."""
        if amount < 1:
            raise InvalidInput("amount must be at least 1")
        if cap is not None and cap.limit < self.quota_limit and self.current_usage + amount > cap.limit:
            until = f" until {cap.ends_at:%Y-%m-%d %H:%M} UTC" if cap.ends_at is not None else ""
            raise LimitExceeded(
                f"the organization is on trial{until}: it may have {cap.limit} {self.resource_type} and "
                f"{self.current_usage} are in use; {amount} more would exceed it",
                details={"limit": cap.limit, "usage": self.current_usage, "requested": amount, "trial": True},
            )
        if self.current_usage + amount > self.quota_limit:
            raise LimitExceeded(
                f"the {self.resource_type} quota is {self.quota_limit} and {self.current_usage} are in use: "
                f"{amount} more would exceed it; release some or ask support to raise the limit",
                details={"limit": self.quota_limit, "usage": self.current_usage, "requested": amount},
            )
        self.current_usage += amount
        self._record(
            events.QuotaReserved(
                quota_id=self.id,
                user_id=self.owner.user_id,
                organization_id=self.owner.organization_id,
                resource_type=self.resource_type,
                reservation_key=reservation_key,
                amount=amount,
                current_usage=self.current_usage,
                quota_limit=self.quota_limit,
            )
        )
        return Reservation(
            key=reservation_key,
            quota_id=self.id,
            owner=self.owner,
            resource_type=self.resource_type,
            amount=amount,
            status=ReservationStatus.RESERVED,
            created_at=now,
        )

    def release(self, reservation: Reservation, now: datetime) -> Reservation:
        """Give the reservation's units back; a released one answers as it is, unchanged."""
        if reservation.status is ReservationStatus.RELEASED:
            return reservation
        # Never below zero, even if a limit was lowered or usage corrected by hand meanwhile.
        self.current_usage = max(0, self.current_usage - reservation.amount)
        self._record(
            events.QuotaReleased(
                quota_id=self.id,
                user_id=reservation.owner.user_id,
                organization_id=reservation.owner.organization_id,
                resource_type=reservation.resource_type,
                reservation_key=reservation.key,
                amount=reservation.amount,
                current_usage=self.current_usage,
                quota_limit=self.quota_limit,
            )
        )
        return replace(reservation, status=ReservationStatus.RELEASED, released_at=now)

    def change_limit(self, quota_limit: int, changed_by_user_id: int) -> bool:
        """Set the limit (usage above it stays: new reservations are refused); False when unchanged."""
        if quota_limit == self.quota_limit:
            return False
        old, self.quota_limit = self.quota_limit, quota_limit
        self._record(
            events.QuotaLimitChanged(
                quota_id=self.id,
                user_id=self.owner.user_id,
                organization_id=self.owner.organization_id,
                resource_type=self.resource_type,
                old_limit=old,
                new_limit=quota_limit,
                current_usage=self.current_usage,
                changed_by_user_id=changed_by_user_id,
            )
        )
        return True


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


@dataclass
class Setting(Aggregate):
    key: str
    type: SettingType
    value: str | None
    """As stored: the canonical text of the typed value."""
    description: str
    version: int
    updated_at: datetime | None
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def aggregate_id(self) -> str:
        return self.key

    def typed_value(self) -> SettingValue:
        return parse_setting(self.type, self.value or "")

    def set(self, value: SettingValue, sent_as: SettingType | None, now: datetime) -> bool:
        """Set the value, checked against the setting's type; False when it is the value already."""
        if sent_as is not None and sent_as is not self.type:
            raise InvalidInput(
                f"{self.key} is a {self.type.value} setting, not {sent_as.value}: send a {self.type.value} value"
            )
        text = setting_text(self.type, value)
        parse_setting(self.type, text)
        if text == self.value:
            return False
        old, self.value, self.updated_at = self.value, text, now
        self._record(events.SettingChanged(key=self.key, type=self.type.value, old_value=old or "", new_value=text))
        return True


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


@dataclass(frozen=True)
class TrialCap:
    """A trial's limit on one resource type, lower than the quota while the trial lasts."""

    limit: int
    ends_at: datetime | None


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


@dataclass
class Organization(Aggregate):
    """The organization aggregate: its details, its one owner, and every change of its members
    and invitations. The member and invitation rows are kept by the repositories; each change
    of them is decided here (who may, and what it does), bumps the organization's version and
    records its event. The service layer takes the organization's row lock before asking, so
    the members it passes in are the current ones."""

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
    trial_ends_at: datetime | None = None
    """Set while (and after) the organization was on a trial; None when it never had one."""
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def trial_over(self, now: datetime) -> bool:
        """Whether the trial is due to end: still on trial, and its end has come."""
        return self.status is OrganizationStatus.TRIAL and self.trial_ends_at is not None and self.trial_ends_at <= now

    def end_trial(self, now: datetime) -> bool:
        """The trial is over: the organization becomes active, with ``organization.trial_ended``.
        False (nothing recorded) when it is not on a trial that is due. An organization that
        billing suspended during its trial is not on trial now: billing's lift gives it back its
        trial, which then ends here at the next run."""
        if not self.trial_over(now) or self.trial_ends_at is None:
            return False
        self.status = OrganizationStatus.ACTIVE
        self._record(
            events.OrganizationTrialEnded(
                organization_id=self.id, trial_ends_at=self.trial_ends_at, new_status=self.status.value
            )
        )
        return True

    def change_status(
        self, status: OrganizationStatus, reason: str, changed_by_user_id: int, requested_by: str = ""
    ) -> None:
        """The organization becomes ``status`` (suspended, or back to active or trial), with
        ``organization.suspended`` or ``organization.activated``; every service locks the
        organization's resources while it is suspended. Nothing happens when it has that status."""
        if status is self.status:
            return
        if OrganizationStatus.SUSPENDED not in (status, self.status):
            raise InvalidInput(f"organization {self.id} is {self.status.value}: only a suspension changes that here")
        old, self.status = self.status, status
        event = events.OrganizationSuspended if status is OrganizationStatus.SUSPENDED else events.OrganizationActivated
        self._record(
            event(
                organization_id=self.id,
                old_status=old.value,
                new_status=status.value,
                reason=reason,
                changed_by_user_id=changed_by_user_id,
                requested_by=requested_by,
            )
        )

    def founded(self, now: datetime) -> Membership:
        """Announce the new organization (at its first version); its owner's membership."""
        self._record(
            events.OrganizationCreated(organization_id=self.id, owner_user_id=self.owner_id, status=self.status.value),
            bump=False,
        )
        return Membership(self.id, self.owner_id, OrganizationRole.OWNER, (), invited_by=None, joined_at=now)

    def add_member(
        self,
        actor: Membership | None,
        user_id: int,
        current: Membership | None,
        role: OrganizationRole,
        permissions: tuple[str, ...],
        now: datetime,
    ) -> Membership:
        """``current``: the user's membership now, if any (a member is not added twice)."""
        manager = require_manager(actor, self.id)
        if current is not None:
            raise AlreadyExists(f"user {user_id} is a member already: change their role instead")
        member = Membership(self.id, user_id, check_grantable(role), permissions, manager.user_id, now)
        self._member_added(member)
        return member

    def change_role(self, actor: Membership | None, target: Membership, role: OrganizationRole) -> Membership:
        check_role_change(actor, target, self.id)
        if target.role is role or actor is None:
            return target
        self._record(
            events.OrganizationMemberRoleChanged(
                organization_id=self.id,
                user_id=target.user_id,
                old_role=target.role.value,
                new_role=role.value,
                changed_by_user_id=actor.user_id,
            )
        )
        return replace(target, role=role)

    def remove_member(self, actor: Membership | None, target: Membership) -> None:
        check_removal(actor, target, self.id)
        self._member_removed(target, removed_by_user_id=target.user_id if actor is None else actor.user_id)

    def remove_erased_member(self, member: Membership, erased_by_user_id: int) -> None:
        """Staff erase an account: it leaves its organizations (the owner's is refused before)."""
        if member.role is OrganizationRole.OWNER:
            raise PreconditionFailed("the owner cannot be removed: transfer ownership first")
        self._member_removed(member, removed_by_user_id=erased_by_user_id)

    def transfer_ownership(self, actor: Membership | None, new_owner: Membership | None) -> Membership:
        """The new owner's membership as it was; the old owner becomes an admin."""
        chosen = check_transfer(actor, new_owner, self.id)
        old_owner = self.owner_id if actor is None else actor.user_id
        self.owner_id = chosen.user_id
        self._record(
            events.OrganizationOwnershipTransferred(
                organization_id=self.id,
                old_owner_user_id=old_owner,
                new_owner_user_id=chosen.user_id,
                new_owner_previous_role=chosen.role.value,
            )
        )
        return chosen

    def set_member_permissions(
        self, actor: Membership | None, target: Membership, permissions: tuple[str, ...]
    ) -> Membership:
        manager = require_manager(actor, self.id)
        if target.permissions == permissions:
            return target
        self._record(
            events.OrganizationMemberPermissionsChanged(
                organization_id=self.id,
                user_id=target.user_id,
                old_permissions=target.permissions,
                new_permissions=permissions,
                changed_by_user_id=manager.user_id,
            )
        )
        return replace(target, permissions=permissions)

    def update(
        self,
        actor: Membership | None,
        *,
        name: str | None,
        billing_email: str | None,
        country: str | None,
        tax_id: str | None,
    ) -> list[str]:
        """Set the details given (None: keep; '' clears an optional one); the fields that changed."""
        manager = require_manager(actor, self.id)
        wanted = {
            "name": self.name if name is None else name,
            "billing_email": self.billing_email if billing_email is None else (billing_email or None),
            "country": self.country if country is None else (country or None),
            "tax_id": self.tax_id if tax_id is None else (tax_id or None),
        }
        changed = [f for f, value in wanted.items() if value != getattr(self, f)]
        if not changed:
            return []
        for f in changed:
            setattr(self, f, wanted[f])
        self._record(
            events.OrganizationUpdated(
                organization_id=self.id,
                changed_fields=tuple(changed),
                updated_by_user_id=manager.user_id,
                country=(self.country or "") if "country" in changed else None,
                tax_id=(self.tax_id or "") if "tax_id" in changed else None,
                name=self.name if "name" in changed else None,
            )
        )
        return changed

    # -- invitations: the rows are the invitation repository's; the decisions are here --------

    def invite(self, invitation: Invitation, replacing: list[Invitation]) -> None:
        """A new invitation; the open ones of the same address it replaces are revoked first."""
        for earlier in replacing:
            self._invitation_revoked(earlier, invitation.invited_by or 0, reason="replaced")
        self._record(
            events.OrganizationMemberInvited(
                organization_id=self.id,
                invitation_id=invitation.id,
                role=invitation.role.value,
                permissions=invitation.permissions,
                invited_by_user_id=invitation.invited_by,
                expires_at=invitation.expires_at,
            )
        )

    def revoke_invitation(self, actor: Membership | None, invitation: Invitation, now: datetime) -> Invitation:
        manager = require_manager(actor, self.id)
        if invitation.revoked_at is not None:
            return invitation
        if invitation.accepted_at is not None:
            raise PreconditionFailed(
                f"invitation {invitation.id} was accepted already: remove the member instead if they should go"
            )
        self._invitation_revoked(invitation, manager.user_id, reason="revoked")
        return replace(invitation, revoked_at=now)

    def accept_invitation(
        self, invitation: Invitation, user: User, current: Membership | None, now: datetime
    ) -> Membership:
        """``user`` joins as the invitation says; ``current``: their membership now, if any."""
        invitation.check_acceptable(user, now)
        if current is not None:
            raise AlreadyExists(f"you are a member of organization {self.id} already")
        member = Membership(self.id, user.id, invitation.role, invitation.permissions, invitation.invited_by, now)
        self._record(
            events.OrganizationInvitationAccepted(
                organization_id=self.id, invitation_id=invitation.id, user_id=user.id, role=invitation.role.value
            )
        )
        self._member_added(member)
        return member

    def _member_added(self, member: Membership) -> None:
        self._record(
            events.OrganizationMemberAdded(
                organization_id=self.id,
                user_id=member.user_id,
                role=member.role.value,
                invited_by_user_id=member.invited_by,
                permissions=member.permissions,
            )
        )

    def _member_removed(self, member: Membership, removed_by_user_id: int) -> None:
        self._record(
            events.OrganizationMemberRemoved(
                organization_id=self.id,
                user_id=member.user_id,
                role=member.role.value,
                removed_by_user_id=removed_by_user_id,
            )
        )

    def _invitation_revoked(self, invitation: Invitation, revoked_by_user_id: int, reason: str) -> None:
        self._record(
            events.OrganizationInvitationRevoked(
                organization_id=self.id,
                invitation_id=invitation.id,
                revoked_by_user_id=revoked_by_user_id,
                reason=reason,
            )
        )


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


FREE_FAILURES = 2
"""Failures of an (account, address) pair in a row that bring no wait (a person mistyping)."""
FIRST_DELAY = timedelta(seconds=1)
"""The wait after the first failure past the free ones; it doubles with each further one."""


def sign_in_subject(email: str) -> str:
    """Whose failures an attempt counts towards: the SHA-256 of the email as sent (trimmed and
    lowercased), known or not, so that an unknown email is throttled exactly like a known one
    and the throttle tells nobody which emails have an account."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class SignInFailures:
    """Failed credential checks of one account (its email) from one client address: a wrong
    password at sign-in, a wrong current password, a wrong two-factor or recovery code.

    The first ``FREE_FAILURES`` in a row bring no wait; after each further one the pair waits
    ``FIRST_DELAY``, doubled each time (1 s, 2 s, 4 s, …), before its next attempt is even
    checked; the ``max_failures``-th locks the pair for the
    policy's ``lockout``, and every further failure locks it again. Only that address is slowed
    and locked: the owner signs in from another one. The count restarts after ``lockout`` of
    quiet once the last wait ended, and a success from the address clears it."""

    subject: str
    ip: str
    failures: int = 0
    last_failed_at: datetime | None = None
    blocked_until: datetime | None = None

    def current(self, policy: LockoutPolicy, now: datetime) -> SignInFailures:
        """The pair as it counts at ``now``: an old run of failures is forgotten."""
        if self.blocked_until is not None and now >= self.blocked_until + policy.lockout:
            return SignInFailures(self.subject, self.ip)
        return self

    def retry_after(self, now: datetime) -> int | None:
        """Whole seconds until the pair may try again; None when it may now."""
        if self.blocked_until is None or now >= self.blocked_until:
            return None
        return max(1, math.ceil((self.blocked_until - now).total_seconds()))

    def failed(self, policy: LockoutPolicy, now: datetime) -> SignInFailures:
        """One more failure, and the wait it brings."""
        failures = self.current(policy, now).failures + 1
        if failures >= policy.max_failures:
            wait = policy.lockout
        elif failures <= FREE_FAILURES:
            wait = timedelta(0)
        else:
            wait = min(policy.lockout, FIRST_DELAY * 2 ** (failures - FREE_FAILURES - 1))
        return SignInFailures(self.subject, self.ip, failures, now, now + wait)

    def locked(self, policy: LockoutPolicy, now: datetime) -> bool:
        return self.failures >= policy.max_failures and self.retry_after(now) is not None


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
