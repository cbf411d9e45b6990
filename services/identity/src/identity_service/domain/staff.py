"""Staff administration: who on the staff may read and change which accounts, settings and
quotas, which status changes exist, and what erasing an account leaves of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cpshared.errors import Forbidden, InvalidInput, PreconditionFailed
from identity_service.domain.model import User, UserRole, UserStatus

STAFF_ROLES = frozenset({UserRole.ADMIN, UserRole.SUPPORT, UserRole.BILLING})
REASON_MAX = 1000
MAX_QUOTA_LIMIT = 1_000_000
ERASED_NAME = "Erased user"


def erased_email(user_id: int) -> str:
    """The address an erased account keeps: unique (by id) and undeliverable (.invalid)."""
    return f"erased-{user_id}@erased.invalid"


@dataclass(frozen=True)
class UserDetails:
    """An account as staff see it."""

    user: User
    email_verified_at: datetime | None
    two_factor_enabled: bool
    deleted_at: datetime | None


class Area(StrEnum):
    """What a staff request is about."""

    USERS = "users"
    SETTINGS = "settings"
    QUOTAS = "quotas"


def acting_staff(actor: User | None, acting_user_id: int) -> User:
    """The acting user, who must exist and be active to act at all."""
    if actor is None:
        raise Forbidden(f"acting user {acting_user_id} does not exist: act as an existing staff member")
    if actor.status is not UserStatus.ACTIVE:
        raise Forbidden(f"acting user {actor.id} is {actor.status.value}: only an active account acts")
    return actor


def require_reader(actor: User, area: Area) -> None:
    """Admins read everything; support and billing read accounts (and quotas); clients nothing here."""
    if actor.role is UserRole.ADMIN:
        return
    if actor.role in STAFF_ROLES and area in (Area.USERS, Area.QUOTAS):
        return
    raise Forbidden(f"reading {area.value} is for staff whose role allows it; a {actor.role.value} may not")


def require_admin(actor: User, what: str) -> None:
    if actor.role is not UserRole.ADMIN:
        raise Forbidden(f"{what} is for admins only; ask an admin")


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"reason must be at most {REASON_MAX} characters")
    return reason


def check_quota_limit(limit: int) -> int:
    if not 0 <= limit <= MAX_QUOTA_LIMIT:
        raise InvalidInput(f"quota_limit must be 0 to {MAX_QUOTA_LIMIT}")
    return limit


# Allowed status changes: new status -> the statuses it may come from.
TRANSITIONS: dict[UserStatus, frozenset[UserStatus]] = {
    UserStatus.ACTIVE: frozenset({UserStatus.PENDING, UserStatus.SUSPENDED, UserStatus.BANNED}),
    UserStatus.SUSPENDED: frozenset({UserStatus.ACTIVE}),
    UserStatus.BANNED: frozenset({UserStatus.ACTIVE, UserStatus.SUSPENDED, UserStatus.PENDING}),
}
SUPPORT_MAY_SET = frozenset({UserStatus.ACTIVE, UserStatus.SUSPENDED})


def check_status_change(actor: User, target: UserDetails, new: UserStatus) -> bool:
    """Whether ``actor`` may move ``target`` to ``new``: True when it is a change, False when
    the account has that status already (nothing to do). Raises Forbidden or
    PreconditionFailed saying what stands in the way."""
    if new not in TRANSITIONS:
        raise InvalidInput("the new status must be active, suspended or banned")
    user = target.user
    if actor.id == user.id:
        raise Forbidden("nobody changes their own status: ask another staff member")
    if actor.role is UserRole.SUPPORT:
        if user.role is not UserRole.CLIENT:
            raise Forbidden(f"support may change the status of clients only; user {user.id} is {user.role.value}")
        if new not in SUPPORT_MAY_SET:
            raise Forbidden("support may suspend or activate clients; banning is for admins")
        if user.status is UserStatus.BANNED:
            raise Forbidden("only an admin may activate a banned account")
    elif actor.role is not UserRole.ADMIN:
        raise Forbidden(f"a {actor.role.value} may not change account statuses; ask support or an admin")
    if target.deleted_at is not None:
        raise PreconditionFailed(f"user {user.id} was erased: its status stays banned")
    if user.status is new:
        return False
    if user.status not in TRANSITIONS[new]:
        raise PreconditionFailed(
            f"user {user.id} is {user.status.value} and cannot become {new.value} directly: "
            "allowed are pending → active, active ↔ suspended, any → banned, banned → active"
        )
    return True


# -- search -----------------------------------------------------------------------------------

SORTABLE = ("id", "name", "email", "created")
QUERY_MAX = 255


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class UserSearch:
    query: str = ""
    role: UserRole | None = None
    status: UserStatus | None = None
    sort: tuple[SortKey, ...] = ()


def parse_user_sort(values: list[str] | tuple[str, ...]) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for raw in values:
        field, colon, direction = raw.strip().partition(":")
        if field not in SORTABLE:
            raise InvalidInput(f"cannot sort users by {field!r}; sort by one of: {', '.join(SORTABLE)}")
        if colon and direction not in ("asc", "desc"):
            raise InvalidInput(f"sort {raw!r}: the direction must be 'asc' or 'desc'")
        if any(k.field == field for k in keys):
            raise InvalidInput(f"sort {raw!r}: {field!r} is given more than once")
        keys.append(SortKey(field, descending=direction == "desc"))
    return tuple(keys)


def check_query(query: str) -> str:
    query = query.strip()
    if len(query) > QUERY_MAX:
        raise InvalidInput(f"query must be at most {QUERY_MAX} characters")
    return query
