"""Resource quotas: reserving and releasing units, atomically and idempotently by
reservation key."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from cpshared.clock import utcnow
from cpshared.db import retry_on_disconnect
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed
from identity_service.domain import commands
from identity_service.domain.model import (
    OrganizationStatus,
    Quota,
    QuotaOwner,
    Reservation,
    ReservationStatus,
    TrialCap,
    UserStatus,
    check_reservation_key,
    check_resource_type,
)
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, UnitOfWorkFactory

DEFAULT_LIMIT_SETTING = "default_server_limit"
"""The seed's default: a resource type's new quota starts at it unless the setting
``default_<resource_type>_limit`` exists (``default_volume_gb_limit``: GB of volumes)."""


def default_limit_setting(resource_type: str) -> str:
    return f"default_{resource_type}_limit"


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
        default = uow.settings.get(default_limit_setting(cmd.resource_type)) or uow.settings.get(DEFAULT_LIMIT_SETTING)
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
        _refuse_suspended(cmd.owner, uow)
        now = utcnow()
        reservation = quota.reserve(cmd.reservation_key, cmd.amount, now, cap=_trial_cap(cmd, uow))
        try:
            uow.quotas.add_reservation(reservation)
        except IntegrityError:  # the key is in use on another owner's quota, committed meanwhile
            raise InvalidInput(
                f"reservation key {cmd.reservation_key!r} was used for another reservation: use a new key"
            ) from None
        uow.quotas.save(quota, now)
        uow.commit()
    return reservation, quota


def _refuse_suspended(owner: QuotaOwner, uow: IdentityUnitOfWork) -> None:
    """A suspended account (by staff, or by billing's dunning) gets nothing new: every service
    reserves quota before it creates a resource, so this one check covers them all."""
    if owner.organization_id is not None:
        organization = uow.organizations.get(owner.organization_id)
        if organization is not None and organization.status is OrganizationStatus.SUSPENDED:
            raise PreconditionFailed(
                f"organization {organization.id} is suspended: nothing new is created for it until it is active again"
            )
    elif owner.user_id is not None:
        user = uow.users.get(owner.user_id)
        if user is not None and user.status in (UserStatus.SUSPENDED, UserStatus.BANNED):
            raise PreconditionFailed(
                f"user {user.id} is {user.status.value}: nothing new is created for it until it is active again"
            )


def trial_limit_setting(resource_type: str) -> str:
    return f"trial_{resource_type}_limit"


def _trial_cap(cmd: commands.ReserveQuota, uow: IdentityUnitOfWork) -> TrialCap | None:
    """While an organization is on trial, ``trial_<resource type>_limit`` caps its quota (when set)."""
    if cmd.owner.organization_id is None:
        return None
    organization = uow.organizations.get(cmd.owner.organization_id)
    if organization is None or organization.status is not OrganizationStatus.TRIAL:
        return None
    setting = uow.settings.get(trial_limit_setting(cmd.resource_type))
    value = setting.typed_value() if setting is not None else None
    if type(value) is not int or value < 0:
        return None
    return TrialCap(value, organization.trial_ends_at)


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
        released = quota.release(reservation, now)
        uow.quotas.mark_released(released)
        uow.quotas.save(quota, now)
        uow.commit()
    return released, quota
