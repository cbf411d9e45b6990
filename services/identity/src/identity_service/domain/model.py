"""Accounts, API keys, quotas and settings as plain values, with the rules that govern them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cpshared.errors import InvalidInput, LimitExceeded


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


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    role: UserRole
    status: UserStatus
    created_at: datetime
    password_hash: str | None = None
    """Stays inside the service: the gRPC adapter has no field to put it in."""


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
