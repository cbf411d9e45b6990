"""Reading the audit log: the query, who may see which entries, and the entries themselves.

Plain Python: the repository (adapters/repository_audit_log.py) turns a query and a reader
into SQL, so that who sees what is decided in the WHERE clause, on the indexed columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cpshared.errors import InvalidInput

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 50
SORTABLE = ("id", "created")
LOGIN_ACTIONS = ("user.login_succeeded", "user.login_failed", "user.locked")
LOGIN_SUCCEEDED = "user.login_succeeded"
ALL_ENTRIES_ROLES = frozenset({"admin", "support"})
"""Platform roles that read every tenant's entries."""
ORGANIZATION_LOG_ROLES = frozenset({"owner", "admin"})
"""Roles in an organization that read its entries (whoever acted, from where): its owner and
admins. A plain or billing member reads only the entries of its own actions."""


@dataclass(frozen=True)
class Reader:
    """Whose entries a caller may read: everyone's (``everything``), or only its own user's
    and its organizations'."""

    everything: bool
    user_id: int = 0
    organization_ids: tuple[int, ...] = ()

    @classmethod
    def unrestricted(cls) -> Reader:
        return cls(everything=True)

    def may_read_user(self, user_id: int) -> bool:
        return self.everything or user_id == self.user_id


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


NEWEST_FIRST = (SortKey("created", descending=True),)


def parse_sort(values: list[str] | tuple[str, ...]) -> tuple[SortKey, ...]:
    """Sort keys of ``"field[:asc|:desc]"`` values; newest first when none are given."""
    keys: list[SortKey] = []
    for raw in values:
        name, colon, direction = raw.strip().partition(":")
        if name not in SORTABLE:
            raise InvalidInput(f"cannot sort audit logs by {name!r}; sort by one of: {', '.join(SORTABLE)}")
        if colon and direction not in ("asc", "desc"):
            raise InvalidInput(f"sort {raw!r}: the direction must be 'asc' or 'desc'")
        if any(k.field == name for k in keys):
            raise InvalidInput(f"sort {raw!r}: {name!r} is given more than once")
        keys.append(SortKey(name, descending=direction == "desc"))
    return tuple(keys) or NEWEST_FIRST


@dataclass(frozen=True)
class Page:
    number: int = 1
    size: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(number: int, size: int) -> Page:
    """The page asked for; 0 means the default (page 1, 25 entries)."""
    number, size = number or 1, size or DEFAULT_PER_PAGE
    if number < 1:
        raise InvalidInput("page must be 1 or more")
    if not 1 <= size <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1 to {MAX_PER_PAGE}")
    return Page(number, size)


@dataclass(frozen=True)
class AuditLogQuery:
    """Filters, each None when not given; every given one must match."""

    user_id: int | None = None
    organization_id: int | None = None
    action: str | None = None
    action_prefix: str | None = None
    resource_type: str | None = None
    resource_id: int | None = None
    request_id: str | None = None
    since: datetime | None = None
    """Naive UTC, inclusive."""
    until: datetime | None = None
    """Naive UTC, exclusive."""
    sort: tuple[SortKey, ...] = NEWEST_FIRST

    def check(self) -> AuditLogQuery:
        """The query itself when it makes sense; InvalidInput saying what to change otherwise."""
        if self.action is not None and len(self.action) > 255:
            raise InvalidInput("action must be at most 255 characters")
        if self.action_prefix is not None and len(self.action_prefix) > 255:
            raise InvalidInput("action_prefix must be at most 255 characters")
        if self.resource_type is not None and len(self.resource_type) > 50:
            raise InvalidInput("resource_type must be at most 50 characters")
        if self.request_id is not None and len(self.request_id) > 36:
            raise InvalidInput("request_id must be at most 36 characters")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise InvalidInput("until must not be before since: give a time range that moves forward")
        return self


@dataclass(frozen=True)
class AuditLogEntry:
    id: int
    action: str
    created_at: datetime
    """Naive UTC, as stored."""
    event_type: str
    user_id: int | None = None
    organization_id: int | None = None
    resource_type: str | None = None
    resource_id: int | None = None
    old_values: Any = None
    new_values: Any = None
    ip_address: str | None = None
    user_agent: str | None = None
    api_key_id: int | None = None
    request_id: str | None = None
    response_code: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class LoginAttempt:
    id: int
    action: str
    created_at: datetime
    ip_address: str = ""
    user_agent: str = ""
    success: bool = False
    reason: str = ""


def login_attempt(entry: AuditLogEntry) -> LoginAttempt:
    """A sign-in attempt from its audit entry: the reason (and the IP, when the actor had
    none) come from the event's new values."""
    values: Mapping[str, Any] = entry.new_values if isinstance(entry.new_values, Mapping) else {}
    success = entry.action == LOGIN_SUCCEEDED
    reason = values.get("reason")
    ip = entry.ip_address or values.get("ip") or ""
    return LoginAttempt(
        id=entry.id,
        action=entry.action,
        created_at=entry.created_at,
        ip_address=str(ip),
        user_agent=entry.user_agent or "",
        success=success,
        reason="" if success or not isinstance(reason, str) else reason,
    )


@dataclass(frozen=True)
class PageOf:
    """One page of results and how many there are in all."""

    items: list[Any] = field(default_factory=list)
    page: Page = field(default_factory=Page)
    total: int = 0
