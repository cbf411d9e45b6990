"""Dunning as identity carries it out: billing asks for an account to be suspended when an
invoice stays unpaid past its grace period (``billing.suspension_requested``) and withdraws the
request once the account is clear (``billing.suspension_lifted``). Identity owns the account's
status, so it decides what that means:

- an active user, or an active or trial organization, is suspended with a reason saying billing
  asked (``user.suspended`` / ``organization.suspended`` with ``requested_by`` "billing"), and
  identity keeps a :class:`BillingHold`: who suspended it (billing), why, and the status it had;
- an account staff already suspended or banned (or a pending one) is left as staff set it, and no
  hold is kept, so billing's lift never reactivates it;
- a lift reactivates the account to the status it had only while billing's hold is there; any
  status change staff make releases the hold (staff decide from then on);
- a second request while the hold stands (another overdue invoice) changes nothing.

Every service follows the status events: they lock the account's resources while it is
suspended and unlock them on activation. Nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from identity_service.domain.model import Organization, OrganizationStatus, User, UserStatus

BILLING = "billing"
"""``requested_by`` of the status changes dunning makes."""


class AccountType(StrEnum):
    USER = "user"
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class BillingHold:
    """Billing's suspension of one account, while it stands."""

    account_type: AccountType
    account_id: int
    previous_status: str
    """The status the account had before billing's suspension: what a lift gives back."""
    invoice_id: int
    """The overdue invoice whose request suspended it."""
    reason: str
    suspended_at: datetime


def request_reason(invoice_number: str, due: date, grace_days: int) -> str:
    return (
        f"billing asked: invoice {invoice_number} unpaid since its due date {due.isoformat()}, "
        f"past the {grace_days}-day grace period"
    )


def lift_reason(invoice_number: str) -> str:
    return f"billing lifted its suspension: no overdue invoice left (cleared by invoice {invoice_number})"


def suspend_user(
    user: User, hold: BillingHold | None, invoice_id: int, reason: str, now: datetime
) -> BillingHold | None:
    """Billing's request for ``user`` (whose current hold is ``hold``): the hold to keep, or
    None when nothing changes (held already, or not active: staff's status stays)."""
    if hold is not None or user.status is not UserStatus.ACTIVE:
        return None
    user.change_status(UserStatus.SUSPENDED, reason, changed_by_user_id=0, requested_by=BILLING)
    return BillingHold(AccountType.USER, user.id, UserStatus.ACTIVE.value, invoice_id, reason, now)


def lift_user(user: User, hold: BillingHold | None, reason: str) -> bool:
    """Billing's lift for ``user``: reactivated to the status it had, only under billing's hold."""
    if hold is None or user.status is not UserStatus.SUSPENDED:
        return False
    user.change_status(UserStatus(hold.previous_status), reason, changed_by_user_id=0, requested_by=BILLING)
    return True


def suspend_organization(
    organization: Organization, hold: BillingHold | None, invoice_id: int, reason: str, now: datetime
) -> BillingHold | None:
    """Billing's request for ``organization``: an active or trial one is suspended."""
    if hold is not None or organization.status is OrganizationStatus.SUSPENDED:
        return None
    previous = organization.status
    organization.change_status(OrganizationStatus.SUSPENDED, reason, changed_by_user_id=0, requested_by=BILLING)
    return BillingHold(AccountType.ORGANIZATION, organization.id, previous.value, invoice_id, reason, now)


def lift_organization(organization: Organization, hold: BillingHold | None, reason: str) -> bool:
    """Billing's lift for ``organization``: back to active (or trial), only under billing's hold."""
    if hold is None or organization.status is not OrganizationStatus.SUSPENDED:
        return False
    organization.change_status(
        OrganizationStatus(hold.previous_status), reason, changed_by_user_id=0, requested_by=BILLING
    )
    return True
