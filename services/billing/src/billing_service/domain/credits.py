"""Credits pay an invoice oldest-expiring first, never more than the amount due or their balance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


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
