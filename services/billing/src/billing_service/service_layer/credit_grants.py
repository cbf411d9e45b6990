"""Account credits: granted by staff (``credit.granted``), listed by their account with what
remains. The invoice run spends them (service_layer/invoice_run.py)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from billing_service.domain.accounts import Account
from billing_service.domain.commands import GrantCredit
from billing_service.domain.credits import Credit, check_grant
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput


def grant(command: GrantCredit, uow: AbstractUnitOfWork, billing_currency: str) -> Credit:
    """A credit of the user's own account, or of an organization's (its owner, as billing knows
    it, unless ``user_id`` names one), in ``billing_currency`` (the platform's invoicing currency)."""
    now = utcnow()
    checked = check_grant(command, now, billing_currency)
    user_id, organization_id = command.user_id, command.organization_id
    with uow:
        if organization_id:
            profile = uow.accounts.profile(Account("organization", organization_id))
            user_id = int((profile.owner_user_id if profile else None) or user_id)
            if user_id <= 0:
                raise InvalidInput(
                    f"organization {organization_id} is not known to billing yet: name its owner (user_id)"
                )
        credit = Credit.grant(user_id, organization_id, checked, now)
        uow.credits.add(credit)
        uow.commit()
    return credit


def list_for(
    user_id: int, organization_id: int | None, uow: AbstractUnitOfWork
) -> tuple[list[Credit], dict[str, Decimal]]:
    """The account's credits, the soonest to expire first, and the usable balance per currency."""
    now = utcnow()
    with uow:
        found = uow.credits.of_account(Account.of(user_id, organization_id))
    remaining: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for credit in found:
        if not credit.is_expired(now):
            remaining[credit.currency] += credit.balance
    return found, dict(remaining)
