"""Staff administration use cases: search and read accounts, change their status, erase them
on request, list settings, list quotas and set their limits.

Each takes the acting user's id and reads that user's role from the database in the same
transaction, so a role or status changed a moment ago counts at once (a signed principal
may be minutes old). Every change records its events through the unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed
from cpshared.quotas import QuotaResourceType
from identity_service.domain.dunning import AccountType
from identity_service.domain.model import (
    OrganizationRole,
    Quota,
    QuotaOwner,
    Setting,
    User,
    UserRole,
    UserStatus,
    check_resource_type,
)
from identity_service.domain.staff import (
    STAFF_ROLES,
    Area,
    UserDetails,
    UserSearch,
    acting_staff,
    check_query,
    check_quota_limit,
    check_reason,
    check_status_change,
    parse_user_sort,
    require_admin,
    require_reader,
)
from identity_service.service_layer.quotas import DEFAULT_LIMIT_SETTING
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, UnitOfWorkFactory

DEFAULT_PER_PAGE, MAX_PER_PAGE = 25, 50


def _actor(uow: IdentityUnitOfWork, acting_user_id: int) -> User:
    return acting_staff(uow.users.get(acting_user_id), acting_user_id)


def _target(uow: IdentityUnitOfWork, user_id: int, *, for_update: bool = False) -> UserDetails:
    found = uow.staff.details(user_id, for_update=for_update)
    if found is None:
        raise NotFound(f"user {user_id} does not exist")
    return found


def _page(page: int, per_page: int) -> tuple[int, int]:
    page, per_page = page or 1, per_page or DEFAULT_PER_PAGE
    if page < 1:
        raise InvalidInput("page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1 to {MAX_PER_PAGE}")
    return page, per_page


# -- accounts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchUsers:
    acting_user_id: int
    query: str = ""
    role: UserRole | None = None
    status: UserStatus | None = None
    page: int = 0
    per_page: int = 0
    sort: tuple[str, ...] = ()


def search_users(cmd: SearchUsers, uow: IdentityUnitOfWork) -> tuple[list[UserDetails], int, int, int]:
    """(accounts, page, per_page, total_entries): one page of the accounts that match."""
    page, per_page = _page(cmd.page, cmd.per_page)
    search = UserSearch(query=check_query(cmd.query), role=cmd.role, status=cmd.status, sort=parse_user_sort(cmd.sort))
    with uow:
        require_reader(_actor(uow, cmd.acting_user_id), Area.USERS)
        found, total = uow.staff.search(search, offset=(page - 1) * per_page, limit=per_page)
    return found, page, per_page, total


def get_user(acting_user_id: int, user_id: int, uow: IdentityUnitOfWork) -> UserDetails:
    with uow:
        require_reader(_actor(uow, acting_user_id), Area.USERS)
        return _target(uow, user_id)


@dataclass(frozen=True)
class SetUserStatus:
    acting_user_id: int
    user_id: int
    status: UserStatus
    reason: str = ""


def set_user_status(cmd: SetUserStatus, uow: IdentityUnitOfWork) -> UserDetails:
    """Activate, suspend or ban an account. A suspended or banned account's API keys and
    sessions stop working at their next exchange: IssuePrincipal and AuthenticateApiKey
    answer only for active accounts (the gateway caches an answer for a second). Billing's hold
    on the account (dunning) goes: staff's status stands until staff change it."""
    reason = check_reason(cmd.reason)
    with uow:
        actor = _actor(uow, cmd.acting_user_id)
        target = _target(uow, cmd.user_id, for_update=True)
        changed = check_status_change(actor, target, cmd.status)
        # Staff decide from now on: billing's lift will not reactivate an account staff set.
        released = uow.dunning.release(AccountType.USER, target.user.id)
        if not changed:
            if released:
                uow.commit()
            return target
        target.user.change_status(cmd.status, reason, changed_by_user_id=actor.id)
        uow.users.save_status(target.user, utcnow())
        uow.commit()
    return target


def erase_user(acting_user_id: int, user_id: int, uow: IdentityUnitOfWork) -> tuple[UserDetails, list[int]]:
    """Erase an account's personal data on its holder's request (GDPR art. 17), in one
    transaction: the row keeps its id (invoices, audit records and events refer to it) and
    nothing else that identifies a person. Returns the account and the organizations of which
    it is the only member: those are left as they are, for staff to close."""
    with uow:
        actor = _actor(uow, acting_user_id)
        require_admin(actor, "erasing an account")
        if actor.id == user_id:
            raise PreconditionFailed("an admin does not erase their own account: ask another admin")
        target = _target(uow, user_id, for_update=True)
        if target.deleted_at is not None:
            return target, _sole_memberships(uow, user_id)
        now = utcnow()
        user = target.user

        # Organizations first: refuse before anything changes if one would be left without an owner.
        sole: list[int] = []
        leaving = []
        for organization, membership in uow.organizations.of_user(user.id):
            locked = uow.organizations.get(organization.id, for_update=True)
            if locked is None:
                continue
            if uow.staff.member_count(locked.id) == 1:
                sole.append(locked.id)
            elif membership.role is OrganizationRole.OWNER:
                raise PreconditionFailed(
                    f"user {user.id} owns organization {locked.id}, which has other members: "
                    "transfer ownership first, then erase the account"
                )
            else:
                leaving.append((locked, membership))
        for organization, membership in leaving:
            organization.remove_erased_member(membership, erased_by_user_id=actor.id)
            uow.organizations.remove_member(organization.id, user.id)
            uow.organizations.save(organization, now)

        for key in uow.staff.live_api_keys(user.id):
            key.revoke(now)
            uow.api_keys.save(key)
        uow.staff.revoke_sessions(user.id, now)
        uow.staff.revoke_open_invitations(user.email, now)
        uow.staff.anonymise_login_activity(user.id)
        user.erase(erased_by_user_id=actor.id)
        uow.users.save_erased(user, now)
        erased = _target(uow, user.id)
        uow.commit()
    return erased, sole


def _sole_memberships(uow: IdentityUnitOfWork, user_id: int) -> list[int]:
    return [o.id for o, _ in uow.organizations.of_user(user_id) if uow.staff.member_count(o.id) == 1]


# -- settings ---------------------------------------------------------------------------------


def list_settings(acting_user_id: int, uow: IdentityUnitOfWork) -> list[Setting]:
    with uow:
        require_reader(_actor(uow, acting_user_id), Area.SETTINGS)
        return uow.staff.settings()


# -- quotas -----------------------------------------------------------------------------------


def list_quotas(acting_user_id: int, owner: QuotaOwner | None, uow: IdentityUnitOfWork) -> list[Quota]:
    """A user's own and their organizations' quotas (staff: anyone's). Another's answer as missing."""
    with uow:
        actor = _actor(uow, acting_user_id)
        staff = actor.role in STAFF_ROLES
        member_of = {o.id for o, _ in uow.organizations.of_user(actor.id)}
        if owner is None:
            return uow.staff.quotas(user_ids=[actor.id], organization_ids=sorted(member_of))
        if owner.user_id is not None:
            if owner.user_id != actor.id and (not staff or uow.users.get(owner.user_id) is None):
                raise NotFound(f"user {owner.user_id} does not exist")
            return uow.staff.quotas(user_ids=[owner.user_id], organization_ids=[])
        organization_id = owner.organization_id or 0
        if organization_id not in member_of and (not staff or not uow.organizations.exists(organization_id)):
            raise NotFound(f"organization {organization_id} does not exist")
        return uow.staff.quotas(user_ids=[], organization_ids=[organization_id])


@dataclass(frozen=True)
class SetQuotaLimit:
    acting_user_id: int
    owner: QuotaOwner
    resource_type: str
    quota_limit: int


def set_quota_limit(cmd: SetQuotaLimit, uow_factory: UnitOfWorkFactory) -> Quota:
    """Set a quota's limit, creating the quota (at the default limit) first when it is missing.

    The creation runs in its own short transaction, as ReserveQuota's does, so concurrent
    creators of the same row never deadlock at the FOR UPDATE that follows.
    """
    resource_type, limit = check_resource_type(cmd.resource_type), check_quota_limit(cmd.quota_limit)
    if resource_type not in {t.value for t in QuotaResourceType}:
        raise InvalidInput(
            f"resource_type {resource_type!r} is not a resource with a quota: use one of "
            + ", ".join(t.value for t in QuotaResourceType)
        )
    with uow_factory() as uow:
        require_admin(_actor(uow, cmd.acting_user_id), "setting quota limits")
        exists = (
            uow.users.get(cmd.owner.user_id) is not None
            if cmd.owner.user_id is not None
            else uow.organizations.exists(cmd.owner.organization_id or 0)
        )
        if not exists:
            what = f"user {cmd.owner.user_id}" if cmd.owner.user_id else f"organization {cmd.owner.organization_id}"
            raise NotFound(f"{what} does not exist")
        if uow.quotas.get(cmd.owner, resource_type) is None:
            default = uow.settings.get(DEFAULT_LIMIT_SETTING)
            value = default.typed_value() if default is not None else 0
            uow.quotas.create_if_missing(cmd.owner, resource_type, value if type(value) is int else 0, utcnow())
            uow.commit()
    with uow_factory() as uow:
        quota = uow.quotas.get(cmd.owner, resource_type, for_update=True)
        if quota is None:  # unreachable: created above, and quotas are never deleted
            raise NotFound(f"no {resource_type} quota exists for this owner")
        if not quota.change_limit(limit, changed_by_user_id=cmd.acting_user_id):
            return quota
        uow.quotas.save(quota, utcnow())
        uow.commit()
    return quota
