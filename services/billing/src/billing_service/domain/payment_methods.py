"""What a stored payment method may hold: the payment provider's token or reference and display
data — never a card number.

Card data stays with the payment provider (PCI DSS): the platform keeps the provider's reference
of the method (``pm_...``), the last four digits, brand and expiry to show, and a billing name
and address. Any field that carries something shaped like a card number (13 to 19 digits,
spaces or dashes between them, passing the Luhn check) is refused with a clear error, so a card
number pasted by mistake never reaches the database, a log or an event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from billing_service.domain.accounts import Account
from billing_service.domain.events import Aggregate
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.errors import InvalidInput
from cpshared.events import catalog
from cpshared.events.registry import EventSpec

TYPES = ("credit_card", "paypal", "bank_transfer", "crypto")
# 13 to 19 digits, optionally separated by single spaces or dashes.
_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:/@+-]{3,255}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CARD_NUMBER_REFUSED = (
    "looks like a card number: card numbers are never stored; send the payment provider's token "
    "(provider_reference) and only the last four digits (last_four)"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    for match in _PAN_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def refuse_card_numbers(fields: Mapping[str, str]) -> None:
    for name, value in fields.items():
        if value and looks_like_card_number(value):
            raise InvalidInput(f"{name} {CARD_NUMBER_REFUSED}")


@dataclass(frozen=True)
class NewPaymentMethod:
    type: str
    provider_reference: str = ""
    last_four: str = ""
    card_brand: str = ""
    exp_month: int = 0
    exp_year: int = 0
    billing_name: str = ""
    billing_address: Mapping[str, str] = field(default_factory=dict)
    paypal_email: str = ""

    def check(self, today: date) -> None:
        refuse_card_numbers(
            {
                "provider_reference": self.provider_reference,
                "last_four": self.last_four,
                "card_brand": self.card_brand,
                "billing_name": self.billing_name,
                "paypal_email": self.paypal_email,
                **{f"billing_address.{k}": v for k, v in self.billing_address.items()},
            }
        )
        if self.type not in TYPES:
            raise InvalidInput(f"type {self.type!r} is not one of {', '.join(TYPES)}")
        if self.provider_reference and not _REFERENCE.match(self.provider_reference):
            raise InvalidInput(
                "provider_reference is the payment provider's token, 3 to 255 of A-Z a-z 0-9 _ . : / @ + -"
            )
        if self.type == "credit_card":
            if not self.provider_reference:
                raise InvalidInput("a credit_card needs the payment provider's token (provider_reference)")
            if not re.fullmatch(r"\d{4}", self.last_four):
                raise InvalidInput("last_four is the card's last four digits")
            check_expiry(self.exp_month, self.exp_year, today)
        elif self.type == "paypal":
            if not self.provider_reference and not self.paypal_email:
                raise InvalidInput("a paypal method needs paypal_email or the provider's reference")
        elif not self.provider_reference:
            raise InvalidInput(f"a {self.type} method needs the payment provider's reference (provider_reference)")
        if self.type != "credit_card" and (self.last_four or self.exp_month or self.exp_year):
            raise InvalidInput("last_four and the expiry are for credit cards only")
        if self.paypal_email and not _EMAIL.match(self.paypal_email):
            raise InvalidInput("paypal_email is not an email address")
        if len(self.card_brand) > 20 or len(self.billing_name) > 255 or len(self.paypal_email) > 255:
            raise InvalidInput("card_brand is at most 20 characters, billing_name and paypal_email 255")


def check_expiry(month: int, year: int, today: date) -> None:
    """A card valid through the end of its expiry month, and not for more than 30 years."""
    if not 1 <= month <= 12:
        raise InvalidInput("exp_month is 1 to 12")
    if not today.year <= year <= today.year + 30:
        raise InvalidInput(f"exp_year is {today.year} to {today.year + 30}")
    if (year, month) < (today.year, today.month):
        raise InvalidInput(f"the card expired at the end of {year}-{month:02d}")


@dataclass(eq=False)
class PaymentMethod(Aggregate):
    """A stored payment method of an account. Each change raises its version; the account's
    one default is kept by the database's unique key (see service_layer/payment_methods.py)."""

    id: int
    user_id: int
    organization_id: int | None
    type: str
    is_default: bool = False
    last_four: str | None = None
    card_brand: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    billing_name: str | None = None
    billing_address: dict[str, str] | None = None
    provider_reference: str | None = None
    paypal_email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    changes: dict[str, Any] = field(default_factory=dict)
    """Columns changed since it was loaded, not yet stored."""
    removed: bool = False

    @property
    def account(self) -> Account:
        return Account.of(self.user_id, self.organization_id)

    @classmethod
    def new(cls, user_id: int, organization_id: int | None, method: NewPaymentMethod, now: datetime) -> PaymentMethod:
        """A checked (:meth:`NewPaymentMethod.check`) method; not the default yet."""
        return cls(
            id=0,
            user_id=user_id,
            organization_id=organization_id,
            type=method.type,
            last_four=method.last_four or None,
            card_brand=method.card_brand or None,
            exp_month=method.exp_month or None,
            exp_year=method.exp_year or None,
            billing_name=method.billing_name or None,
            billing_address=dict(method.billing_address) or None,
            provider_reference=method.provider_reference or None,
            paypal_email=method.paypal_email or None,
            created_at=now,
            updated_at=now,
        )

    def _change(self, now: datetime, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.changes |= values
        self.version += 1
        self.updated_at = now

    def make_default(self, now: datetime) -> None:
        self._change(now, is_default=True)

    def clear_default(self, now: datetime) -> None:
        self._change(now, is_default=False)

    def revise(
        self,
        billing_name: str | None,
        exp_month: int | None,
        exp_year: int | None,
        billing_address: Mapping[str, str] | None,
        now: datetime,
    ) -> None:
        """Change what was sent (None: unchanged); records ``payment_method.updated``."""
        values: dict[str, Any] = {}
        if billing_name is not None:
            if len(billing_name) > 255:
                raise InvalidInput("billing_name is at most 255 characters")
            values["billing_name"] = billing_name or None
        if exp_month is not None or exp_year is not None:
            if self.type != "credit_card":
                raise InvalidInput("the expiry is for credit cards only")
            month = exp_month if exp_month is not None else self.exp_month or 0
            year = exp_year if exp_year is not None else self.exp_year or 0
            check_expiry(month, year, now.date())
            values |= {"exp_month": month, "exp_year": year}
        if billing_address is not None:
            values["billing_address"] = dict(billing_address) or None
        if not values:
            raise InvalidInput("nothing to change: send billing_name, exp_month/exp_year or billing_address")
        self._change(now, **values)
        self.announce(catalog.PAYMENT_METHOD_UPDATED)

    def remove(self) -> None:
        self.removed = True
        self.announce(catalog.PAYMENT_METHOD_REMOVED, self.version + 1)

    def announce(self, spec: EventSpec, version: int | None = None) -> None:
        """Record ``spec`` with the method as it is now (at ``version``, else its own)."""
        payload = billing_events.PaymentMethodChanged(
            user_id=self.user_id,
            organization_id=self.organization_id or 0,
            type=self.type,
            last_four=self.last_four or "",
            card_brand=self.card_brand or "",
            is_default=self.is_default,
        )

        def with_id() -> billing_events.PaymentMethodChanged:
            payload.payment_method_id = self.id
            return payload

        self.record(spec, self.version if version is None else version, with_id)
