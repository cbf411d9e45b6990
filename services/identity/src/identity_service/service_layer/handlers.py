"""The identity use cases. Each runs in one unit of work; what changed is recorded as
events in the same transaction (the outbox), so state and events commit together."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.auth.principal import Principal, user_principal
from cpshared.clock import utcnow
from cpshared.db import retry_on_disconnect
from cpshared.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    TwoFactorRequired,
    Unauthenticated,
)
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.registry import EventSpec
from cpshared.timestamps import to_timestamp as _timestamp
from identity_service import SERVICE_NAME
from identity_service.domain import commands, passwords
from identity_service.domain.invitations import acting_member
from identity_service.domain.model import (
    LOGIN_LOCKOUT_MINUTES_SETTING,
    LOGIN_MAX_FAILURES_SETTING,
    LOGIN_SUCCEEDED_STATE,
    STATUS_FAILURES,
    ApiKey,
    LockoutPolicy,
    LoginAttempt,
    LoginFailure,
    LoginState,
    Membership,
    Organization,
    OrganizationRole,
    Quota,
    Reservation,
    ReservationStatus,
    Setting,
    User,
    UserStatus,
    check_grantable,
    check_name,
    check_new_password,
    check_permissions,
    check_rate_limit,
    check_removal,
    check_reservation_key,
    check_resource_type,
    check_role_change,
    check_scopes,
    check_slug,
    check_transfer,
    normalise_email,
    parse_setting,
    require_manager,
    require_member,
    setting_text,
)
from identity_service.domain.secrets import api_key_digest, new_api_key_secret
from identity_service.service_layer import two_factor
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]

DEFAULT_LIMIT_SETTING = "default_server_limit"
"""The one default the seed has; every resource type's new quota starts at it."""


def _record(uow: IdentityUnitOfWork, spec: EventSpec, aggregate_id: int | str, version: int, payload: Message) -> None:
    uow.record(
        new_event(spec, producer=SERVICE_NAME, aggregate_id=aggregate_id, aggregate_version=version, payload=payload)
    )


# -- accounts ---------------------------------------------------------------------------------


def create_user(cmd: commands.CreateUser, uow: IdentityUnitOfWork) -> User:
    with uow:
        user = add_user(cmd, uow)
        uow.commit()
    return user


def add_user(cmd: commands.CreateUser, uow: IdentityUnitOfWork) -> User:
    """Create the account inside the caller's open unit of work; the caller commits it, with
    whatever else belongs to the same change (a sign-up's verification row)."""
    name, email = check_name(cmd.name), normalise_email(cmd.email)
    check_new_password(cmd.password)
    password_hash = passwords.hash_password(cmd.password)
    now = utcnow()
    if uow.users.by_email(email) is not None:
        raise AlreadyExists(f"an account with email {email} exists already: sign in or use another email")
    try:
        user_id = uow.users.add(name, email, password_hash, cmd.role, cmd.status, now)
    except IntegrityError:  # the same email committed by a concurrent sign-up
        raise AlreadyExists(f"an account with email {email} exists already") from None
    _record(uow, catalog.USER_CREATED, user_id, 1, ev.UserCreated(user_id=user_id, role=cmd.role, status=cmd.status))
    return User(id=user_id, name=name, email=email, role=cmd.role, status=cmd.status, created_at=now)


# -- logins -----------------------------------------------------------------------------------

USER_AGENT_MAX = 1000
WRONG_CREDENTIALS = "the email or the password is wrong"
TWO_FACTOR_REQUIRED = (
    "this account has two-factor authentication on: send the current code of the authenticator app "
    "(totp_code) or one of the recovery codes (recovery_code) with the email and password"
)
WRONG_TWO_FACTOR_CODE = (
    "the two-factor code is wrong or was used already: send the current code of the authenticator app, "
    "or an unused recovery code"
)


def _check_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise InvalidInput(f"ip {ip!r} is not an IPv4 or IPv6 address: send the address the attempt came from") from (
            None
        )


def lockout_policy(uow: IdentityUnitOfWork) -> LockoutPolicy:
    """The policy in system_settings; a missing or unusable value falls back to the default."""
    default = LockoutPolicy()
    values: list[int] = []
    for key, fallback in (
        (LOGIN_MAX_FAILURES_SETTING, default.max_failures),
        (LOGIN_LOCKOUT_MINUTES_SETTING, int(default.lockout.total_seconds() // 60)),
    ):
        setting = uow.settings.get(key)
        value = setting.typed_value() if setting is not None else fallback
        values.append(value if type(value) is int and value >= 1 else fallback)
    return LockoutPolicy(max_failures=values[0], lockout=timedelta(minutes=values[1]))


def login(cmd: commands.Login, uow: IdentityUnitOfWork) -> User:
    """One sign-in attempt, recorded in login_activity whatever its outcome.

    The attempt, the lockout counter on the user row and the events commit in one
    transaction, and the refusal is raised only after that commit, so a failed attempt is
    never lost. The user row is locked (FOR UPDATE) for the attempt: concurrent guesses at
    one account queue, and each sees the count the previous one committed, so no burst of
    parallel tries gets more than the policy allows. An unknown email is verified against
    a dummy hash, a locked account too, so neither answers faster than a wrong password.
    """
    ip = _check_ip(cmd.ip)
    user_agent = cmd.user_agent[:USER_AGENT_MAX]
    try:
        email: str | None = normalise_email(cmd.email)
    except InvalidInput:
        email = None
    now = utcnow()
    with uow:
        policy = lockout_policy(uow)
        user = uow.users.by_email(email, for_update=True) if email is not None else None
        if user is None:
            passwords.verify_password(None, cmd.password)
            uow.login_activity.add(None, ip, user_agent, LoginFailure.UNKNOWN_EMAIL, now)
            uow.commit()
            raise Unauthenticated(WRONG_CREDENTIALS)
        state = LoginState(failed_logins=user.failed_logins, locked_until=user.locked_until)
        if state.locked(now):
            passwords.verify_password(None, cmd.password)
            _failed(uow, user, state, ip, user_agent, LoginFailure.LOCKED, now)
            raise Forbidden(
                f"too many wrong passwords: the account is locked until {state.locked_until:%Y-%m-%d %H:%M} UTC; "
                "try again then or reset the password"
            )
        verdict = passwords.verify_password(user.password_hash, cmd.password)
        if not verdict.ok:
            after = state.after_wrong_password(policy, now)
            _failed(uow, user, after, ip, user_agent, LoginFailure.WRONG_PASSWORD, now, failed_before=state)
            raise Unauthenticated(WRONG_CREDENTIALS)
        refusal = STATUS_FAILURES.get(user.status)
        if refusal is not None:
            # The status is told only to whoever knows the password.
            _failed(uow, user, state, ip, user_agent, refusal, now)
            if user.status is UserStatus.PENDING:
                raise Forbidden(
                    "the email address is not verified yet: follow the link in the verification mail, "
                    "or ask for a new one (POST /v1/auth/verify/resend)"
                )
            raise Forbidden(f"the account is {user.status.value}: contact support")
        second_factor = two_factor.second_factor_failure(cmd, user.id, uow)
        if second_factor is LoginFailure.TWO_FACTOR_REQUIRED:
            # Asking for the code is not a failed guess: it does not count towards the lockout.
            _failed(uow, user, state, ip, user_agent, second_factor, now)
            raise TwoFactorRequired(TWO_FACTOR_REQUIRED)
        if second_factor is not None:
            after = state.after_wrong_password(policy, now)
            _failed(uow, user, after, ip, user_agent, second_factor, now, failed_before=state)
            raise Unauthenticated(WRONG_TWO_FACTOR_CODE)
        attempt = uow.login_activity.add(user.id, ip, user_agent, None, now)
        signed_in = replace(user, version=user.version + 1)
        uow.users.save_login(signed_in, LOGIN_SUCCEEDED_STATE, now, succeeded_from=ip, password_hash=verdict.new_hash)
        payload = ev.UserLoginSucceeded(user_id=user.id, login_activity_id=attempt.id, ip=ip)
        _record(uow, catalog.USER_LOGIN_SUCCEEDED, user.id, signed_in.version, payload)
        uow.commit()
    return replace(signed_in, password_hash=None, failed_logins=0, locked_until=None, last_login_at=now)


def _failed(
    uow: IdentityUnitOfWork,
    user: User,
    state: LoginState,
    ip: str,
    user_agent: str,
    reason: LoginFailure,
    now: datetime,
    *,
    failed_before: LoginState | None = None,
) -> None:
    """Record a refused attempt of a known user, and the lock when this attempt caused one."""
    attempt = uow.login_activity.add(user.id, ip, user_agent, reason, now)
    version = user.version + 1
    payload = ev.UserLoginFailed(
        user_id=user.id, login_activity_id=attempt.id, ip=ip, reason=reason.value, failed_logins=state.failed_logins
    )
    _record(uow, catalog.USER_LOGIN_FAILED, user.id, version, payload)
    if failed_before is not None and state.locked(now):
        version += 1
        locked = ev.UserLocked(
            user_id=user.id,
            ip=ip,
            reason="too_many_failed_logins",
            failed_logins=failed_before.failed_logins + 1,
            locked_until=_timestamp(state.locked_until),
        )
        _record(uow, catalog.USER_LOCKED, user.id, version, locked)
    uow.users.save_login(replace(user, version=version), state, now, succeeded_from=None, password_hash=None)
    uow.commit()


DEFAULT_PER_PAGE, MAX_PER_PAGE = 25, 50


def list_login_activity(
    user_id: int, page: int, per_page: int, uow: IdentityUnitOfWork
) -> tuple[list[LoginAttempt], int, int, int]:
    """(attempts, page, per_page, total_entries): one page of a user's attempts, newest first."""
    page, per_page = page or 1, per_page or DEFAULT_PER_PAGE
    if page < 1:
        raise InvalidInput("page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1 to {MAX_PER_PAGE}")
    with uow:
        if uow.users.get(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        attempts, total = uow.login_activity.of_user(user_id, offset=(page - 1) * per_page, limit=per_page)
    return attempts, page, per_page, total


def admin_exists(uow: IdentityUnitOfWork) -> bool:
    with uow:
        return uow.users.admin_exists()


# -- organizations ----------------------------------------------------------------------------
#
# Who may do what is decided here from an explicit acting user id and that user's role in
# the organization. The gateway's policy module (platform roles, API key scopes, the signed
# principal) will sit in front of these calls; until then the caller is trusted to pass the
# authenticated user as the acting user.


def create_organization(cmd: commands.CreateOrganization, uow: IdentityUnitOfWork) -> tuple[Organization, Membership]:
    name, slug = check_name(cmd.name, "the organization's name"), check_slug(cmd.slug)
    now = utcnow()
    with uow:
        owner = uow.users.get(cmd.acting_user_id)
        if owner is None:
            raise NotFound(f"user {cmd.acting_user_id} does not exist")
        if owner.status is not UserStatus.ACTIVE:
            raise PreconditionFailed(
                f"user {owner.id} is {owner.status.value}: only an active user creates organizations"
            )
        if uow.organizations.slug_taken(slug):
            raise AlreadyExists(f"the slug {slug!r} is taken: choose another")
        try:
            organization = uow.organizations.add(name, slug, owner.id, now)
        except IntegrityError:  # the same slug committed by a concurrent create
            raise AlreadyExists(f"the slug {slug!r} is taken: choose another") from None
        membership = Membership(
            organization_id=organization.id,
            user_id=owner.id,
            role=OrganizationRole.OWNER,
            permissions=(),
            invited_by=None,
            joined_at=now,
        )
        uow.organizations.add_member(membership)
        created = ev.OrganizationCreated(
            organization_id=organization.id, owner_user_id=owner.id, status=organization.status.value
        )
        _record(uow, catalog.ORGANIZATION_CREATED, organization.id, 1, created)
        uow.commit()
    return organization, membership


def get_organization(
    acting_user_id: int, organization_id: int, uow: IdentityUnitOfWork, *, as_platform_admin: bool = False
) -> tuple[Organization, list[Membership]]:
    with uow:
        organization = uow.organizations.get(organization_id)
        actor = _acting(uow, organization_id, acting_user_id, as_platform_admin) if organization else None
        require_member(actor, organization_id)
        if organization is None:  # unreachable: a member's organization exists
            raise NotFound(f"organization {organization_id} does not exist")
        return organization, uow.organizations.members(organization_id)


def list_organizations_for_user(user_id: int, uow: IdentityUnitOfWork) -> list[tuple[Organization, Membership]]:
    with uow:
        return uow.organizations.of_user(user_id)


def _locked_organization(uow: IdentityUnitOfWork, organization_id: int) -> Organization:
    organization = uow.organizations.get(organization_id, for_update=True)
    if organization is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return organization


def _bump(
    uow: IdentityUnitOfWork, organization: Organization, now: datetime, owner_id: int | None = None
) -> Organization:
    changed = replace(organization, version=organization.version + 1, owner_id=owner_id or organization.owner_id)
    uow.organizations.save(changed, now)
    return changed


def _acting(uow: IdentityUnitOfWork, organization_id: int, user_id: int, as_platform_admin: bool) -> Membership | None:
    """The acting user's membership; a platform admin outside acts as an admin of it."""
    member = uow.organizations.member(organization_id, user_id)
    return acting_member(member, user_id, organization_id, utcnow(), as_platform_admin=as_platform_admin)


def _existing_member(uow: IdentityUnitOfWork, organization_id: int, user_id: int) -> Membership:
    member = uow.organizations.member(organization_id, user_id)
    if member is None:
        raise NotFound(f"user {user_id} is not a member of organization {organization_id}")
    return member


def add_member(cmd: commands.AddMember, uow: IdentityUnitOfWork) -> Membership:
    role, permissions = check_grantable(cmd.role), check_permissions(cmd.permissions)
    now = utcnow()
    with uow:
        organization = _locked_organization(uow, cmd.organization_id)
        require_manager(uow.organizations.member(organization.id, cmd.acting_user_id), organization.id)
        if uow.users.get(cmd.user_id) is None:
            raise NotFound(f"user {cmd.user_id} does not exist")
        if uow.organizations.member(organization.id, cmd.user_id) is not None:
            raise AlreadyExists(f"user {cmd.user_id} is a member already: change their role instead")
        member = Membership(
            organization_id=organization.id,
            user_id=cmd.user_id,
            role=role,
            permissions=permissions,
            invited_by=cmd.acting_user_id,
            joined_at=now,
        )
        uow.organizations.add_member(member)
        changed = _bump(uow, organization, now)
        payload = ev.OrganizationMemberAdded(
            organization_id=organization.id,
            user_id=member.user_id,
            role=role.value,
            invited_by_user_id=cmd.acting_user_id,
            permissions=list(permissions),
        )
        _record(uow, catalog.ORGANIZATION_MEMBER_ADDED, organization.id, changed.version, payload)
        uow.commit()
    return member


def change_member_role(cmd: commands.ChangeMemberRole, uow: IdentityUnitOfWork) -> Membership:
    role = check_grantable(cmd.role)
    now = utcnow()
    with uow:
        organization = _locked_organization(uow, cmd.organization_id)
        actor = _acting(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        require_manager(actor, organization.id)
        target = _existing_member(uow, organization.id, cmd.user_id)
        check_role_change(actor, target, organization.id)
        if target.role is role:
            return target
        uow.organizations.set_role(organization.id, target.user_id, role)
        changed = _bump(uow, organization, now)
        payload = ev.OrganizationMemberRoleChanged(
            organization_id=organization.id,
            user_id=target.user_id,
            old_role=target.role.value,
            new_role=role.value,
            changed_by_user_id=cmd.acting_user_id,
        )
        _record(uow, catalog.ORGANIZATION_MEMBER_ROLE_CHANGED, organization.id, changed.version, payload)
        uow.commit()
    return replace(target, role=role)


def remove_member(cmd: commands.RemoveMember, uow: IdentityUnitOfWork) -> None:
    now = utcnow()
    with uow:
        organization = _locked_organization(uow, cmd.organization_id)
        actor = _acting(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        require_member(actor, organization.id)
        target = _existing_member(uow, organization.id, cmd.user_id)
        check_removal(actor, target, organization.id)
        uow.organizations.remove_member(organization.id, target.user_id)
        changed = _bump(uow, organization, now)
        payload = ev.OrganizationMemberRemoved(
            organization_id=organization.id,
            user_id=target.user_id,
            role=target.role.value,
            removed_by_user_id=cmd.acting_user_id,
        )
        _record(uow, catalog.ORGANIZATION_MEMBER_REMOVED, organization.id, changed.version, payload)
        uow.commit()


def transfer_ownership(
    cmd: commands.TransferOwnership, uow: IdentityUnitOfWork
) -> tuple[Organization, list[Membership]]:
    """The new owner and the old one change roles in one transaction: the organization has
    exactly one owner before it and after it, and never none or two in between."""
    now = utcnow()
    with uow:
        organization = _locked_organization(uow, cmd.organization_id)
        actor = _acting(uow, organization.id, cmd.acting_user_id, cmd.as_platform_admin)
        new_owner = check_transfer(actor, uow.organizations.member(organization.id, cmd.new_owner_id), organization.id)
        uow.organizations.set_role(organization.id, cmd.acting_user_id, OrganizationRole.ADMIN)
        uow.organizations.set_role(organization.id, new_owner.user_id, OrganizationRole.OWNER)
        changed = _bump(uow, organization, now, owner_id=new_owner.user_id)
        payload = ev.OrganizationOwnershipTransferred(
            organization_id=organization.id,
            old_owner_user_id=cmd.acting_user_id,
            new_owner_user_id=new_owner.user_id,
            new_owner_previous_role=new_owner.role.value,
        )
        _record(uow, catalog.ORGANIZATION_OWNERSHIP_TRANSFERRED, organization.id, changed.version, payload)
        members = uow.organizations.members(organization.id)
        uow.commit()
    return changed, members


# -- API keys ---------------------------------------------------------------------------------


def create_api_key(cmd: commands.CreateApiKey, uow: IdentityUnitOfWork) -> tuple[ApiKey, str]:
    """The new key and its secret: the only time the secret exists outside the caller."""
    name, scopes, rate_limit = (
        check_name(cmd.name, "the key's name"),
        check_scopes(cmd.scopes),
        check_rate_limit(cmd.rate_limit),
    )
    now = utcnow()
    if cmd.expires_at is not None and cmd.expires_at <= now:
        raise InvalidInput("expires_at must be in the future (leave it unset for a key that never expires)")
    new = new_api_key_secret()
    with uow:
        user = uow.users.get(cmd.user_id)
        if user is None:
            raise NotFound(f"user {cmd.user_id} does not exist")
        if user.status in (UserStatus.SUSPENDED, UserStatus.BANNED):
            raise PreconditionFailed(f"user {cmd.user_id} is {user.status.value}: a key for them would not work")
        if cmd.organization_id is not None and not uow.organizations.exists(cmd.organization_id):
            raise NotFound(f"organization {cmd.organization_id} does not exist")
        key = uow.api_keys.add(
            user_id=user.id,
            organization_id=cmd.organization_id,
            name=name,
            key_hash=new.digest,
            last_four=new.last_four,
            scopes=scopes,
            rate_limit=rate_limit,
            expires_at=cmd.expires_at,
            now=now,
        )
        payload = ev.ApiKeyCreated(
            api_key_id=key.id,
            user_id=key.user_id,
            organization_id=key.organization_id or 0,
            name=key.name,
            last_four=key.last_four,
            scopes=list(key.scopes),
            rate_limit=key.rate_limit,
            expires_at=_timestamp(key.expires_at),
        )
        _record(uow, catalog.API_KEY_CREATED, key.id, 1, payload)
        uow.commit()
    return key, new.secret


def authenticate_api_key(secret: str, uow: IdentityUnitOfWork) -> tuple[ApiKey, User]:
    with uow:
        key = uow.api_keys.by_hash(api_key_digest(secret)) if secret else None
        if key is None:
            raise Unauthenticated("the API key is not valid: check the Bearer token")
        refusal = key.refusal(utcnow())
        if refusal is not None:
            raise Unauthenticated(f"{refusal}: create a new one")
        user = uow.users.get(key.user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            raise Unauthenticated("the API key's account is not active")
    return key, replace(user, password_hash=None)


API_KEY_USE_RECORDED_EVERY = timedelta(seconds=60)
"""How stale a key's last_used_at may get: it is written at most once in this time."""


def _client_ip(ip: str) -> str | None:
    """The address as stored, or None when absent or not an address (it never fails a request)."""
    try:
        return str(ipaddress.ip_address(ip.strip())) if ip.strip() else None
    except ValueError:
        return None


def principal_for_api_key(secret: str, uow: IdentityUnitOfWork, client_ip: str = "") -> Principal:
    """Whom an API key speaks for, as the principal identity signs for the other services.

    A key bound to an organization acts only within it: its principal names that one
    organization (while its user is still a member), not every organization of the user.

    The key's last use (time and ``client_ip``) is written only when the stored one is older
    than API_KEY_USE_RECORDED_EVERY, by one conditional UPDATE: a busy key costs a write a
    minute rather than one per exchange.
    """
    key, user = authenticate_api_key(secret, uow)
    now = utcnow()
    with uow:
        memberships = uow.organizations.of_user(user.id)
        if key.last_used_at is None or key.last_used_at < now - API_KEY_USE_RECORDED_EVERY:
            uow.staff.note_api_key_use(key.id, _client_ip(client_ip), now, API_KEY_USE_RECORDED_EVERY)
            uow.commit()
    organizations = {m.organization_id: m.role.value for _, m in memberships}
    if key.organization_id is not None:
        organizations = {k: v for k, v in organizations.items() if k == key.organization_id}
    return user_principal(
        user_id=user.id,
        role=user.role.value,
        organizations=organizations,
        api_key_id=key.id,
        scopes=key.scopes,
        now=now,
    )


def revoke_api_key(api_key_id: int, uow: IdentityUnitOfWork, *, owner_id: int | None = None) -> ApiKey:
    """Revoke a key; with ``owner_id``, only a key of that user (another's answers as missing)."""
    with uow:
        key = uow.api_keys.get(api_key_id, for_update=True)
        if key is None or (owner_id is not None and key.user_id != owner_id):
            raise NotFound(f"API key {api_key_id} does not exist")
        if key.revoked_at is not None:
            return key
        now = utcnow()
        uow.api_keys.revoke(key.id, now)
        payload = ev.ApiKeyRevoked(
            api_key_id=key.id, user_id=key.user_id, organization_id=key.organization_id or 0, revoked_at=_timestamp(now)
        )
        _record(uow, catalog.API_KEY_REVOKED, key.id, 2, payload)
        uow.commit()
    return replace(key, revoked_at=now)


def list_api_keys(user_id: int, uow: IdentityUnitOfWork) -> list[ApiKey]:
    with uow:
        return uow.api_keys.of_user(user_id)


# -- quotas -----------------------------------------------------------------------------------


def reserve_quota(cmd: commands.ReserveQuota, uow_factory: UnitOfWorkFactory) -> tuple[Reservation, Quota]:
    """Reserve ``amount`` units, atomically and idempotently by reservation key.

    The quota row is locked (SELECT ... FOR UPDATE) for the whole transaction that checks
    the limit, inserts the reservation and raises current_usage: concurrent reservations of
    one quota queue on that lock, so each sees the usage the previous one committed. A
    check followed by a separate update would let two callers both see room for the last
    unit. Deadlocks and lock timeouts are retried: the work is idempotent by its key.
    """
    check_reservation_key(cmd.reservation_key)
    check_resource_type(cmd.resource_type)
    if cmd.amount < 1:
        raise InvalidInput("amount must be at least 1")
    _create_quota_if_missing(cmd, uow_factory())
    return retry_on_disconnect(lambda: _reserve_locked(cmd, uow_factory()))


def _create_quota_if_missing(cmd: commands.ReserveQuota, uow: IdentityUnitOfWork) -> None:
    """In its own short transaction: had it shared the reserving one, the shared locks that
    concurrent INSERTs of the same new row take would turn into a deadlock at FOR UPDATE."""
    with uow:
        if uow.quotas.get(cmd.owner, cmd.resource_type) is not None:
            return
        default = uow.settings.get(DEFAULT_LIMIT_SETTING)
        value = default.typed_value() if default is not None else 0
        limit = value if type(value) is int else 0
        uow.quotas.create_if_missing(cmd.owner, cmd.resource_type, limit, utcnow())
        uow.commit()


def _reserve_locked(cmd: commands.ReserveQuota, uow: IdentityUnitOfWork) -> tuple[Reservation, Quota]:
    with uow:
        quota = uow.quotas.get(cmd.owner, cmd.resource_type, for_update=True)
        if quota is None:
            raise NotFound(f"no {cmd.resource_type} quota exists for this owner")
        earlier = uow.quotas.reservation(cmd.reservation_key)
        if earlier is not None:
            if not earlier.same_request(cmd.owner, cmd.resource_type, cmd.amount):
                raise InvalidInput(
                    f"reservation key {cmd.reservation_key!r} was used for another reservation: use a new key"
                )
            return earlier, quota
        after = quota.reserve(cmd.amount)
        now = utcnow()
        reservation = Reservation(
            key=cmd.reservation_key,
            quota_id=quota.id,
            owner=cmd.owner,
            resource_type=cmd.resource_type,
            amount=cmd.amount,
            status=ReservationStatus.RESERVED,
            created_at=now,
        )
        try:
            uow.quotas.add_reservation(reservation)
        except IntegrityError:  # the key is in use on another owner's quota, committed meanwhile
            raise InvalidInput(
                f"reservation key {cmd.reservation_key!r} was used for another reservation: use a new key"
            ) from None
        uow.quotas.save_usage(after, now)
        payload = ev.QuotaReserved(
            quota_id=quota.id,
            user_id=cmd.owner.user_id or 0,
            organization_id=cmd.owner.organization_id or 0,
            resource_type=cmd.resource_type,
            reservation_key=cmd.reservation_key,
            amount=cmd.amount,
            current_usage=after.current_usage,
            quota_limit=after.quota_limit,
        )
        _record(uow, catalog.QUOTA_RESERVED, quota.id, after.version, payload)
        uow.commit()
    return reservation, after


def release_quota(reservation_key: str, uow_factory: UnitOfWorkFactory) -> tuple[Reservation, Quota]:
    """Give a reservation's units back, once: a second release answers as the first."""
    check_reservation_key(reservation_key)
    return retry_on_disconnect(lambda: _release_locked(reservation_key, uow_factory()))


def _release_locked(reservation_key: str, uow: IdentityUnitOfWork) -> tuple[Reservation, Quota]:
    with uow:
        found = uow.quotas.reservation(reservation_key)
        if found is None:
            raise NotFound(f"no reservation has the key {reservation_key!r}")
        # The quota row's lock first, as reserve takes it: one lock order, no deadlock.
        quota = uow.quotas.lock_by_id(found.quota_id)
        reservation = uow.quotas.reservation(reservation_key)
        if reservation is None or reservation.status is ReservationStatus.RELEASED:
            return reservation or found, quota
        now = utcnow()
        after = quota.release(reservation.amount)
        released = replace(reservation, status=ReservationStatus.RELEASED, released_at=now)
        uow.quotas.mark_released(released)
        uow.quotas.save_usage(after, now)
        payload = ev.QuotaReleased(
            quota_id=quota.id,
            user_id=released.owner.user_id or 0,
            organization_id=released.owner.organization_id or 0,
            resource_type=released.resource_type,
            reservation_key=released.key,
            amount=released.amount,
            current_usage=after.current_usage,
            quota_limit=after.quota_limit,
        )
        _record(uow, catalog.QUOTA_RELEASED, quota.id, after.version, payload)
        uow.commit()
    return released, after


# -- settings ---------------------------------------------------------------------------------


def get_setting(key: str, uow: IdentityUnitOfWork) -> Setting:
    with uow:
        setting = uow.settings.get(key)
    if setting is None:
        raise NotFound(f"there is no setting {key!r}")
    return setting


def set_setting(cmd: commands.SetSetting, uow: IdentityUnitOfWork) -> Setting:
    with uow:
        setting = uow.settings.get(cmd.key, for_update=True)
        if setting is None:
            raise NotFound(f"there is no setting {cmd.key!r}")
        if cmd.sent_as is not None and cmd.sent_as is not setting.type:
            raise InvalidInput(
                f"{cmd.key} is a {setting.type.value} setting, not {cmd.sent_as.value}: "
                f"send a {setting.type.value} value"
            )
        text = setting_text(setting.type, cmd.value)
        parse_setting(setting.type, text)
        if text == setting.value:
            return setting
        changed = replace(setting, value=text, version=setting.version + 1, updated_at=utcnow())
        uow.settings.update(changed)
        payload = ev.SettingChanged(
            key=setting.key, type=setting.type.value, old_value=setting.value or "", new_value=text
        )
        _record(uow, catalog.SETTING_CHANGED, setting.key, changed.version, payload)
        uow.commit()
    return changed
