"""Payment methods of an account, each change with its event in the same unit of work.

An account is a user's own (``organization_id`` NULL) or an organization's. One default per
account is kept by the database itself: ``payment_methods.default_account`` (a generated column
naming the account on its default row only) is unique, so two concurrent "set default" calls
cannot both win (the loser gets a Conflict and may retry). The account's first method becomes
its default; deleting the default makes the newest remaining method the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from billing_service.domain.accounts import Account
from billing_service.domain.payment_methods import NewPaymentMethod, PaymentMethod, refuse_card_numbers
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput
from cpshared.events import catalog

MAX_PER_ACCOUNT = 100


def get(method_id: int, uow: AbstractUnitOfWork) -> PaymentMethod:
    with uow:
        return uow.payment_methods.get(method_id)


def list_for(user_id: int, organization_id: int | None, uow: AbstractUnitOfWork) -> list[PaymentMethod]:
    """The account's methods, the default first."""
    with uow:
        return uow.payment_methods.of_account(Account.of(user_id, organization_id))


def _make_default(method: PaymentMethod, now: datetime, uow: AbstractUnitOfWork) -> None:
    """Clear the account's other default, then set this one (the repository stores them in
    that order; the unique key settles races)."""
    for other in uow.payment_methods.lock_defaults(method.account, besides=method.id):
        other.clear_default(now)
    method.make_default(now)


def add(
    user_id: int, organization_id: int | None, method: NewPaymentMethod, make_default: bool, uow: AbstractUnitOfWork
) -> PaymentMethod:
    now = utcnow()
    method.check(now.date())
    with uow:
        count = uow.payment_methods.lock_count(Account.of(user_id, organization_id))
        if count >= MAX_PER_ACCOUNT:
            raise InvalidInput(f"an account has at most {MAX_PER_ACCOUNT} payment methods; delete one first")
        added = PaymentMethod.new(user_id, organization_id, method, now)
        uow.payment_methods.add(added)
        if make_default or count == 0:
            _make_default(added, now, uow)
        added.announce(catalog.PAYMENT_METHOD_ADDED)
        uow.commit()
    return added


def update(
    method_id: int,
    billing_name: str | None,
    exp_month: int | None,
    exp_year: int | None,
    billing_address: Mapping[str, str] | None,
    uow: AbstractUnitOfWork,
) -> PaymentMethod:
    now = utcnow()
    refuse_card_numbers(
        {"billing_name": billing_name or "", **{f"billing_address.{k}": v for k, v in (billing_address or {}).items()}}
    )
    with uow:
        method = uow.payment_methods.get(method_id, lock=True)
        method.revise(billing_name, exp_month, exp_year, billing_address, now)
        uow.commit()
    return method


def set_default(method_id: int, uow: AbstractUnitOfWork) -> PaymentMethod:
    now = utcnow()
    with uow:
        method = uow.payment_methods.get(method_id, lock=True)
        if method.is_default:
            return method
        _make_default(method, now, uow)
        method.announce(catalog.PAYMENT_METHOD_DEFAULT_SET)
        uow.commit()
    return method


def delete(method_id: int, uow: AbstractUnitOfWork) -> None:
    now = utcnow()
    with uow:
        method = uow.payment_methods.get(method_id, lock=True)
        method.remove()
        uow.payment_methods.remove(method)
        if method.is_default:
            newest = uow.payment_methods.lock_newest(method.account)
            if newest is not None:
                _make_default(newest, now, uow)
                newest.announce(catalog.PAYMENT_METHOD_DEFAULT_SET)
        uow.commit()
