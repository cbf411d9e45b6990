"""The identity use cases. Each runs in one unit of work; what changed is recorded as
events in the same transaction (the outbox), so state and events commit together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import IntegrityError

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import utcnow
from cpshared.db import retry_on_disconnect
from cpshared.errors import AlreadyExists, InvalidInput, NotFound, PreconditionFailed, Unauthenticated
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.registry import EventSpec
from identity_service import SERVICE_NAME
from identity_service.domain import commands, passwords
from identity_service.domain.model import (
    ApiKey,
    Quota,
    Reservation,
    ReservationStatus,
    Setting,
    User,
    UserStatus,
    check_name,
    check_new_password,
    check_rate_limit,
    check_reservation_key,
    check_resource_type,
    check_scopes,
    normalise_email,
    parse_setting,
    setting_text,
)
from identity_service.domain.secrets import api_key_digest, new_api_key_secret
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

UnitOfWorkFactory = Callable[[], IdentityUnitOfWork]

DEFAULT_LIMIT_SETTING = "default_server_limit"
"""The one default the seed has; every resource type's new quota starts at it."""


def _record(uow: IdentityUnitOfWork, spec: EventSpec, aggregate_id: int | str, version: int, payload: Message) -> None:
    uow.record(
        new_event(spec, producer=SERVICE_NAME, aggregate_id=aggregate_id, aggregate_version=version, payload=payload)
    )


def _timestamp(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


# -- accounts ---------------------------------------------------------------------------------


def create_user(cmd: commands.CreateUser, uow: IdentityUnitOfWork) -> User:
    name, email = check_name(cmd.name), normalise_email(cmd.email)
    check_new_password(cmd.password)
    password_hash = passwords.hash_password(cmd.password)
    now = utcnow()
    with uow:
        if uow.users.by_email(email) is not None:
            raise AlreadyExists(f"an account with email {email} exists already: sign in or use another email")
        try:
            user_id = uow.users.add(name, email, password_hash, cmd.role, cmd.status, now)
        except IntegrityError:  # the same email committed by a concurrent sign-up
            raise AlreadyExists(f"an account with email {email} exists already") from None
        _record(
            uow, catalog.USER_CREATED, user_id, 1, ev.UserCreated(user_id=user_id, role=cmd.role, status=cmd.status)
        )
        uow.commit()
    return User(id=user_id, name=name, email=email, role=cmd.role, status=cmd.status, created_at=now)


def verify_password(cmd: commands.VerifyPassword, uow: IdentityUnitOfWork) -> User:
    wrong = Unauthenticated("the email or the password is wrong")
    try:
        email = normalise_email(cmd.email)
    except InvalidInput:
        raise wrong from None
    with uow:
        user = uow.users.by_email(email)
        verdict = passwords.verify_password(user.password_hash if user else None, cmd.password)
        if user is None or not verdict.ok:
            raise wrong
        if verdict.new_hash is not None:
            uow.users.set_password_hash(user.id, verdict.new_hash, utcnow())
            uow.commit()
    return replace(user, password_hash=None)


def admin_exists(uow: IdentityUnitOfWork) -> bool:
    with uow:
        return uow.users.admin_exists()


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


def revoke_api_key(api_key_id: int, uow: IdentityUnitOfWork) -> ApiKey:
    with uow:
        key = uow.api_keys.get(api_key_id, for_update=True)
        if key is None:
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
