"""Account credits: granted by staff (``credit.granted``), listed by their account with what
remains. The invoice run spends them (service_layer/invoice_run.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import billing_accounts, credits
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.timestamps import to_timestamp

TYPES = ("promotional", "referral", "compensation", "manual")
MAX_AMOUNT = Decimal("99999999.99")  # DECIMAL(10, 2)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def account_filter(user_id: int, organization_id: int | None) -> sa.ColumnElement[bool]:
    if organization_id:
        return credits.c.organization_id == organization_id
    return sa.and_(credits.c.organization_id.is_(None), credits.c.user_id == user_id)


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"amount {text!r} is not a decimal amount") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(f"amount {text!r} is an amount in cents, more than 0 and at most {MAX_AMOUNT}")
    return amount


def grant(
    engine: Engine,
    user_id: int,
    organization_id: int | None,
    kind: str,
    amount_text: str,
    currency: str,
    expires_at: datetime | None,
    description: str,
) -> Row[Any]:
    now = utcnow()
    if kind not in TYPES:
        raise InvalidInput(f"type {kind!r} is not one of {', '.join(TYPES)}")
    amount = parse_amount(amount_text)
    currency = (currency or "EUR").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"currency {currency!r} is not an ISO 4217 code")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at is in the past")
    if len(description) > 255:
        raise InvalidInput("description is at most 255 characters")
    if user_id <= 0 and not organization_id:
        raise InvalidInput("name the account: user_id, or organization_id")
    with engine.begin() as conn:
        if organization_id:
            owner = conn.execute(
                sa.select(billing_accounts.c.owner_user_id).where(
                    billing_accounts.c.account_type == "organization", billing_accounts.c.account_id == organization_id
                )
            ).scalar()
            user_id = int(owner or user_id)
            if user_id <= 0:
                raise InvalidInput(
                    f"organization {organization_id} is not known to billing yet: name its owner (user_id)"
                )
        inserted = conn.execute(
            credits.insert().values(
                user_id=user_id,
                organization_id=organization_id or None,
                amount=amount,
                balance=amount,
                currency=currency,
                description=description or None,
                type=kind,
                expires_at=_naive(expires_at) if expires_at else None,
                created_at=_naive(now),
            )
        )
        credit_id = int(inserted.lastrowid)
        payload = billing_events.CreditGranted(
            credit_id=credit_id,
            user_id=user_id,
            organization_id=organization_id or 0,
            type=kind,
            amount=str(amount),
            currency=currency,
            description=description,
        )
        if expires_at is not None:
            payload.expires_at.CopyFrom(to_timestamp(expires_at))
        write_events(
            conn,
            [
                new_event(
                    catalog.CREDIT_GRANTED,
                    producer=SERVICE_NAME,
                    aggregate_id=credit_id,
                    aggregate_version=1,
                    payload=payload,
                )
            ],
        )
        return conn.execute(sa.select(credits).where(credits.c.id == credit_id)).one()


def list_for(engine: Engine, user_id: int, organization_id: int | None) -> tuple[list[Row[Any]], dict[str, Decimal]]:
    """The account's credits, the soonest to expire first, and the usable balance per currency."""
    now = _naive(utcnow())
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(credits)
            .where(account_filter(user_id, organization_id))
            .order_by(credits.c.expires_at.is_(None), credits.c.expires_at, credits.c.id)
        ).all()
    remaining: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for row in rows:
        if row.expires_at is None or row.expires_at > now:
            remaining[row.currency or "EUR"] += row.balance
    return list(rows), dict(remaining)


def is_expired(row: Row[Any]) -> bool:
    return row.expires_at is not None and row.expires_at <= _naive(utcnow())
