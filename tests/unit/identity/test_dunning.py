"""Dunning as identity carries it out, on in-memory fakes: billing's request suspends an active
account with a reason saying billing asked and keeps billing's hold; a second request, and a
lift without billing's hold, change nothing; an account staff suspended or banned stays as staff
set it; an organization goes back to the status it had (active or trial)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from cpshared.errors import InvalidInput, PreconditionFailed
from cpshared.events.catalog import REGISTRY
from identity_service.domain import commands
from identity_service.domain import dunning as rules
from identity_service.domain.dunning import AccountType
from identity_service.domain.model import Organization, OrganizationStatus, QuotaOwner, UserRole, UserStatus
from identity_service.service_layer import dunning, quotas
from tests.unit.identity.fakes import FakeUnitOfWork

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _request(account_type: str, account_id: int, invoice_id: int = 41) -> dunning.SuspensionRequest:
    return dunning.SuspensionRequest(
        account_type, account_id, invoice_id, f"INV-2026-10-{invoice_id:04d}", date(2026, 11, 16), 14
    )


def _lift(account_type: str, account_id: int) -> dunning.SuspensionLift:
    return dunning.SuspensionLift(account_type, account_id, "INV-2026-10-0041")


def _user(uow: FakeUnitOfWork, status: UserStatus = UserStatus.ACTIVE) -> int:
    return uow.users.add("Ana", f"ana{len(uow.users.rows)}@example.com", "hash", UserRole.CLIENT, status, NOW).id


def _events(uow: FakeUnitOfWork) -> list[tuple[str, str, str, str]]:
    found = []
    for event in uow.committed:
        message = REGISTRY.spec(event.envelope.event_type).message()
        assert event.envelope.payload.Unpack(message)
        found.append((event.envelope.event_type, message.new_status, message.requested_by, message.reason))  # type: ignore[attr-defined]
    return found


def test_billing_suspends_an_active_user_once_and_lifts_only_its_own_suspension() -> None:
    uow = FakeUnitOfWork()
    user_id = _user(uow)

    assert dunning.suspend_on_request(_request("user", user_id), uow)
    assert uow.users.rows[user_id].status is UserStatus.SUSPENDED
    [(kind, status, by, reason)] = _events(uow)
    assert (kind, status, by) == ("user.suspended", "suspended", "billing")
    assert "billing asked" in reason and "INV-2026-10-0041" in reason and "2026-11-16" in reason
    hold = uow.dunning.hold(AccountType.USER, user_id)
    assert hold is not None and (hold.previous_status, hold.invoice_id) == ("active", 41)

    # Another overdue invoice of the same account: nothing more happens.
    assert not dunning.suspend_on_request(_request("user", user_id, invoice_id=42), uow)
    assert len(uow.committed) == 1

    assert dunning.lift_on_request(_lift("user", user_id), uow)
    assert uow.users.rows[user_id].status is UserStatus.ACTIVE
    assert _events(uow)[-1][:3] == ("user.activated", "active", "billing")
    assert uow.dunning.hold(AccountType.USER, user_id) is None
    # A second lift (or one for an account billing never held) does nothing.
    assert not dunning.lift_on_request(_lift("user", user_id), uow)
    assert len(uow.committed) == 2


@pytest.mark.parametrize("status", [UserStatus.SUSPENDED, UserStatus.BANNED, UserStatus.PENDING])
def test_an_account_staff_set_stays_as_staff_set_it(status: UserStatus) -> None:
    uow = FakeUnitOfWork()
    user_id = _user(uow, status)
    assert not dunning.suspend_on_request(_request("user", user_id), uow)
    assert not dunning.lift_on_request(_lift("user", user_id), uow)
    assert uow.users.rows[user_id].status is status and uow.committed == []
    assert uow.dunning.hold(AccountType.USER, user_id) is None


def test_staff_taking_over_a_held_account_means_billing_no_longer_reactivates_it() -> None:
    uow = FakeUnitOfWork()
    user_id = _user(uow)
    assert dunning.suspend_on_request(_request("user", user_id), uow)
    # What set_user_status does for staff: the hold goes, staff's status stands.
    assert uow.dunning.release(AccountType.USER, user_id)
    assert not dunning.lift_on_request(_lift("user", user_id), uow)
    assert uow.users.rows[user_id].status is UserStatus.SUSPENDED


@pytest.mark.parametrize("before", [OrganizationStatus.ACTIVE, OrganizationStatus.TRIAL])
def test_an_organization_is_suspended_and_given_back_the_status_it_had(before: OrganizationStatus) -> None:
    uow = FakeUnitOfWork()
    owner = _user(uow)
    organization = uow.organizations.add("Acme", "acme", owner, NOW)
    uow.organizations.rows[organization.id] = replace(organization, status=before)

    assert dunning.suspend_on_request(_request("organization", organization.id), uow)
    assert uow.organizations.rows[organization.id].status is OrganizationStatus.SUSPENDED
    assert uow.users.rows[owner].status is UserStatus.ACTIVE  # the organization, not its owner
    assert not dunning.suspend_on_request(_request("organization", organization.id, invoice_id=42), uow)
    assert dunning.lift_on_request(_lift("organization", organization.id), uow)
    assert uow.organizations.rows[organization.id].status is before
    kinds = [(kind, status, by) for kind, status, by, _ in _events(uow)]
    assert kinds == [
        ("organization.suspended", "suspended", "billing"),
        ("organization.activated", before.value, "billing"),
    ]
    assert uow.organizations.rows[organization.id].version == 3


def test_an_organization_changes_status_only_through_a_suspension() -> None:
    organization = Organization(7, "Acme", "acme", 1, OrganizationStatus.TRIAL, NOW)
    with pytest.raises(InvalidInput):
        organization.change_status(OrganizationStatus.ACTIVE, "", 0)
    organization.change_status(OrganizationStatus.TRIAL, "", 0)  # no change: nothing recorded
    assert organization.events == [] and organization.version == 1


def test_the_reasons_name_the_invoice() -> None:
    assert "INV-2026-10-0007" in rules.request_reason("INV-2026-10-0007", date(2026, 11, 16), 14)
    assert "INV-2026-10-0007" in rules.lift_reason("INV-2026-10-0007")


def test_a_suspended_organization_reserves_no_quota_until_it_is_active_again() -> None:
    uow = FakeUnitOfWork()
    owner = _user(uow)
    organization = uow.organizations.add("Acme", "acme", owner, NOW)
    quota_owner = QuotaOwner(organization_id=organization.id)
    uow.quotas.create_if_missing(quota_owner, "server", 5, NOW)
    quotas.reserve_quota(commands.ReserveQuota("vm-1", quota_owner, "server", 1), lambda: uow)

    assert dunning.suspend_on_request(_request("organization", organization.id), uow)
    with pytest.raises(PreconditionFailed, match="suspended"):
        quotas.reserve_quota(commands.ReserveQuota("vm-2", quota_owner, "server", 1), lambda: uow)
    # The reservation made before answers as before (idempotent by its key).
    quotas.reserve_quota(commands.ReserveQuota("vm-1", quota_owner, "server", 1), lambda: uow)

    assert dunning.lift_on_request(_lift("organization", organization.id), uow)
    _, quota = quotas.reserve_quota(commands.ReserveQuota("vm-2", quota_owner, "server", 1), lambda: uow)
    assert quota.current_usage == 2
