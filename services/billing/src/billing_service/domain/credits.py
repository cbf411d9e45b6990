"""Account credits: granted by staff, they pay invoices oldest-expiring first, never more than
the amount due or their balance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from billing_service.domain.accounts import Account
from billing_service.domain.commands import GrantCredit
from billing_service.domain.events import Aggregate
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.errors import InvalidInput
from cpshared.events import catalog
from cpshared.timestamps import to_timestamp


@dataclass(frozen=True)
class CreditBalance:
    credit_id: int
    balance: Decimal
    expires_at: datetime | None
    created_at: datetime


def apply_credits(amount_due: Decimal, credits: Iterable[CreditBalance], at: datetime) -> list[tuple[int, Decimal]]:
    """``(credit id, amount taken)`` pairs: unexpired credits with a balance, the soonest to expire
    first (credits that never expire last, then the oldest first), until the amount is paid."""
    usable = [c for c in credits if c.balance > 0 and (c.expires_at is None or c.expires_at > at)]
    usable.sort(key=lambda c: (c.expires_at is None, c.expires_at or c.created_at, c.created_at, c.credit_id))
    taken: list[tuple[int, Decimal]] = []
    left = max(amount_due, Decimal(0))
    for credit in usable:
        if left <= 0:
            break
        amount = min(credit.balance, left)
        taken.append((credit.credit_id, amount))
        left -= amount
    return taken


TYPES = ("promotional", "referral", "compensation", "manual")
MAX_AMOUNT = Decimal("99999999.99")  # DECIMAL(10, 2)


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"amount {text!r} is not a decimal amount") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(f"amount {text!r} is an amount in cents, more than 0 and at most {MAX_AMOUNT}")
    return amount


@dataclass(frozen=True)
class CreditGrant:
    """A checked grant of staff: what the credit will be, before its account's owner is known."""

    kind: str
    amount: Decimal
    currency: str
    expires_at: datetime | None
    description: str


def check_grant(command: GrantCredit, now: datetime, billing_currency: str) -> CreditGrant:
    """A grant checked against the rules; ``billing_currency`` is the one the platform invoices
    in: a credit is granted in it (the default), as one in any other would never apply."""
    kind, amount_text, currency, expires_at = command.kind, command.amount, command.currency, command.expires_at
    description = command.description
    if kind not in TYPES:
        raise InvalidInput(f"type {kind!r} is not one of {', '.join(TYPES)}")
    amount = parse_amount(amount_text)
    currency = (currency or billing_currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"currency {currency!r} is not an ISO 4217 code")
    if currency != billing_currency:
        raise InvalidInput(
            f"currency {currency!r}: accounts are invoiced in {billing_currency}, so a credit in {currency} "
            f"would never apply; grant it in {billing_currency}"
        )
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at is in the past")
    if len(description) > 255:
        raise InvalidInput("description is at most 255 characters")
    if command.user_id <= 0 and not command.organization_id:
        raise InvalidInput("name the account: user_id, or organization_id")
    return CreditGrant(kind, amount, currency, expires_at, description)


@dataclass(eq=False)
class Credit(Aggregate):
    """An account credit: granted once (``credit.granted``), spent by invoices (a credit
    application each), given back when an invoice it paid is cancelled or refunded."""

    id: int
    user_id: int
    organization_id: int | None
    type: str
    amount: Decimal
    balance: Decimal
    currency: str
    description: str | None
    expires_at: datetime | None
    created_at: datetime
    applied: list[tuple[int, Decimal, datetime]] = field(default_factory=list)
    """(invoice id, amount, when) taken since it was loaded, not yet stored."""
    given_back: list[int] = field(default_factory=list)
    """Invoices whose applications were given back since it was loaded, not yet stored."""
    stored_balance: Decimal | None = None
    """The balance as loaded (None for a new credit): the repository writes only if it is unchanged."""

    @property
    def account(self) -> Account:
        return Account.of(self.user_id, self.organization_id)

    @classmethod
    def grant(cls, user_id: int, organization_id: int | None, grant: CreditGrant, now: datetime) -> Credit:
        credit = cls(
            id=0,
            user_id=user_id,
            organization_id=organization_id or None,
            type=grant.kind,
            amount=grant.amount,
            balance=grant.amount,
            currency=grant.currency,
            description=grant.description or None,
            expires_at=grant.expires_at,
            created_at=now,
        )

        def granted() -> billing_events.CreditGranted:
            payload = billing_events.CreditGranted(
                credit_id=credit.id,
                user_id=user_id,
                organization_id=organization_id or 0,
                type=grant.kind,
                amount=str(grant.amount),
                currency=grant.currency,
                description=grant.description,
            )
            if grant.expires_at is not None:
                payload.expires_at.CopyFrom(to_timestamp(grant.expires_at))
            return payload

        credit.record(catalog.CREDIT_GRANTED, 1, granted)
        return credit

    def is_expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def as_balance(self) -> CreditBalance:
        return CreditBalance(self.id, self.balance, self.expires_at, self.created_at)

    def apply_to(self, invoice_id: int, amount: Decimal, at: datetime) -> None:
        """Pay ``amount`` of invoice ``invoice_id`` from the balance."""
        if amount <= 0 or amount > self.balance:
            raise RuntimeError(f"credit {self.id} no longer covers {amount}")
        self.balance -= amount
        self.applied.append((invoice_id, amount, at))

    def give_back(self, invoice_id: int, amount: Decimal) -> None:
        """What invoice ``invoice_id`` took of this credit goes back to its balance (the
        invoice was cancelled or refunded); its application goes."""
        self.balance += amount
        self.given_back.append(invoice_id)
