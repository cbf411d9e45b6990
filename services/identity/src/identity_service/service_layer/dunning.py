"""Billing's requests carried out (the rules are domain/dunning.py): the billing projection
(entrypoints/billing_projection.py) calls these in the transaction of the event's inbox row, so
a redelivered event finds its inbox row and changes nothing twice. The account's row is locked
first; its status change and billing's hold commit together with the status event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cpshared.clock import utcnow
from cpshared.logging import get_logger
from identity_service.domain import dunning
from identity_service.domain.dunning import AccountType
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class SuspensionRequest:
    account_type: str
    account_id: int
    invoice_id: int
    invoice_number: str
    due: date
    grace_days: int


@dataclass(frozen=True)
class SuspensionLift:
    account_type: str
    account_id: int
    invoice_number: str


def suspend_on_request(request: SuspensionRequest, uow: IdentityUnitOfWork) -> bool:
    """Suspend the account billing asked about, unless it is held already or staff's status
    stands; True when it was suspended now."""
    kind = AccountType(request.account_type)
    reason = dunning.request_reason(request.invoice_number, request.due, request.grace_days)
    now = utcnow()
    with uow:
        if kind is AccountType.USER:
            user = uow.users.get(request.account_id, for_update=True)
            if user is None:
                log.warning("suspension_request_for_unknown_account", account=f"user:{request.account_id}")
                return False
            hold = dunning.suspend_user(
                user, uow.dunning.hold(kind, request.account_id), request.invoice_id, reason, now
            )
            if hold is not None:
                uow.users.save_status(user, now)
        else:
            organization = uow.organizations.get(request.account_id, for_update=True)
            if organization is None:
                log.warning("suspension_request_for_unknown_account", account=f"organization:{request.account_id}")
                return False
            hold = dunning.suspend_organization(
                organization, uow.dunning.hold(kind, request.account_id), request.invoice_id, reason, now
            )
            if hold is not None:
                uow.organizations.save(organization, now)
        if hold is None:
            log.info("suspension_request_left_as_is", account=f"{kind.value}:{request.account_id}")
            return False
        uow.dunning.keep(hold)
        uow.commit()
    log.info("suspended_on_billing_request", account=f"{kind.value}:{request.account_id}")
    return True


def lift_on_request(lift: SuspensionLift, uow: IdentityUnitOfWork) -> bool:
    """Reactivate the account if billing's request is what suspended it; True when it was."""
    kind = AccountType(lift.account_type)
    reason = dunning.lift_reason(lift.invoice_number)
    now = utcnow()
    with uow:
        if kind is AccountType.USER:
            user = uow.users.get(lift.account_id, for_update=True)
            hold = uow.dunning.hold(kind, lift.account_id)
            if user is None or not dunning.lift_user(user, hold, reason):
                return False
            uow.users.save_status(user, now)
        else:
            organization = uow.organizations.get(lift.account_id, for_update=True)
            hold = uow.dunning.hold(kind, lift.account_id)
            if organization is None or not dunning.lift_organization(organization, hold, reason):
                return False
            uow.organizations.save(organization, now)
        uow.dunning.release(kind, lift.account_id)
        uow.commit()
    log.info("reactivated_on_billing_lift", account=f"{kind.value}:{lift.account_id}")
    return True
