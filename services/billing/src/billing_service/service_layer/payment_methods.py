"""Payment methods of an account, each change with its event in the same transaction.

An account is a user's own (``organization_id`` NULL) or an organization's. One default per
account is kept by the database itself: ``payment_methods.default_account`` (a generated column
naming the account on its default row only) is unique, so two concurrent "set default" calls
cannot both win (the loser gets a Conflict and may retry). The account's first method becomes
its default; deleting the default makes the newest remaining method the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import payment_methods
from billing_service.domain.payment_methods import NewPaymentMethod, check_expiry, refuse_card_numbers
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.errors import Conflict, InvalidInput, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.events.registry import EventSpec

MAX_PER_ACCOUNT = 100


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def account_filter(user_id: int, organization_id: int | None) -> sa.ColumnElement[bool]:
    if organization_id:
        return payment_methods.c.organization_id == organization_id
    return sa.and_(payment_methods.c.organization_id.is_(None), payment_methods.c.user_id == user_id)


def _record(conn: Connection, spec: EventSpec, row: Row[Any], version: int) -> None:
    payload = billing_events.PaymentMethodChanged(
        payment_method_id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id or 0,
        type=row.type,
        last_four=row.last_four or "",
        card_brand=row.card_brand or "",
        is_default=bool(row.is_default),
    )
    event = new_event(spec, producer=SERVICE_NAME, aggregate_id=row.id, aggregate_version=version, payload=payload)
    write_events(conn, [event])


def _load(conn: Connection, method_id: int, *, lock: bool = False) -> Row[Any]:
    query = sa.select(payment_methods).where(payment_methods.c.id == method_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"payment method {method_id} does not exist")
    return row


def get(engine: Engine, method_id: int) -> Row[Any]:
    with engine.connect() as conn:
        return _load(conn, method_id)


def list_for(engine: Engine, user_id: int, organization_id: int | None) -> list[Row[Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(payment_methods)
            .where(account_filter(user_id, organization_id))
            .order_by(payment_methods.c.is_default.desc(), payment_methods.c.id)
        ).all()
    return list(rows)


def _bump(conn: Connection, row: Row[Any], now: datetime, **values: Any) -> Row[Any]:
    conn.execute(
        payment_methods.update()
        .where(payment_methods.c.id == row.id)
        .values(version=row.version + 1, updated_at=_naive(now), **values)
    )
    return _load(conn, row.id)


def _make_default(conn: Connection, row: Row[Any], now: datetime) -> Row[Any]:
    """Clear the account's other default, then set this one; the unique key settles races."""
    others = conn.execute(
        sa.select(payment_methods)
        .where(
            account_filter(row.user_id, row.organization_id),
            payment_methods.c.is_default.is_(True),
            payment_methods.c.id != row.id,
        )
        .with_for_update()
    ).all()
    for other in others:
        _bump(conn, other, now, is_default=False)
    try:
        return _bump(conn, row, now, is_default=True)
    except IntegrityError:
        raise Conflict("another default payment method was set at the same time; try again") from None


def add(
    engine: Engine, user_id: int, organization_id: int | None, method: NewPaymentMethod, make_default: bool
) -> Row[Any]:
    now = utcnow()
    method.check(now.date())
    try:
        with engine.begin() as conn:
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(payment_methods)
                .where(account_filter(user_id, organization_id))
                .with_for_update()
            ).scalar_one()
            if count >= MAX_PER_ACCOUNT:
                raise InvalidInput(f"an account has at most {MAX_PER_ACCOUNT} payment methods; delete one first")
            inserted = conn.execute(
                payment_methods.insert().values(
                    user_id=user_id,
                    organization_id=organization_id,
                    type=method.type,
                    is_default=False,
                    last_four=method.last_four or None,
                    card_brand=method.card_brand or None,
                    exp_month=method.exp_month or None,
                    exp_year=method.exp_year or None,
                    billing_name=method.billing_name or None,
                    billing_address=dict(method.billing_address) or None,
                    stripe_payment_method_id=method.provider_reference or None,
                    paypal_email=method.paypal_email or None,
                    created_at=_naive(now),
                    updated_at=_naive(now),
                )
            )
            row = _load(conn, int(inserted.lastrowid))
            if make_default or count == 0:
                row = _make_default(conn, row, now)
            _record(conn, catalog.PAYMENT_METHOD_ADDED, row, row.version)
            return row
    except IntegrityError:
        raise Conflict("another default payment method was set at the same time; try again") from None


def update(
    engine: Engine,
    method_id: int,
    billing_name: str | None,
    exp_month: int | None,
    exp_year: int | None,
    billing_address: Mapping[str, str] | None,
) -> Row[Any]:
    now = utcnow()
    refuse_card_numbers(
        {"billing_name": billing_name or "", **{f"billing_address.{k}": v for k, v in (billing_address or {}).items()}}
    )
    with engine.begin() as conn:
        row = _load(conn, method_id, lock=True)
        values: dict[str, Any] = {}
        if billing_name is not None:
            if len(billing_name) > 255:
                raise InvalidInput("billing_name is at most 255 characters")
            values["billing_name"] = billing_name or None
        if exp_month is not None or exp_year is not None:
            if row.type != "credit_card":
                raise InvalidInput("the expiry is for credit cards only")
            month = exp_month if exp_month is not None else row.exp_month
            year = exp_year if exp_year is not None else row.exp_year
            check_expiry(month, year, now.date())
            values |= {"exp_month": month, "exp_year": year}
        if billing_address is not None:
            values["billing_address"] = dict(billing_address) or None
        if not values:
            raise InvalidInput("nothing to change: send billing_name, exp_month/exp_year or billing_address")
        row = _bump(conn, row, now, **values)
        _record(conn, catalog.PAYMENT_METHOD_UPDATED, row, row.version)
        return row


def set_default(engine: Engine, method_id: int) -> Row[Any]:
    now = utcnow()
    with engine.begin() as conn:
        row = _load(conn, method_id, lock=True)
        if row.is_default:
            return row
        row = _make_default(conn, row, now)
        _record(conn, catalog.PAYMENT_METHOD_DEFAULT_SET, row, row.version)
        return row


def delete(engine: Engine, method_id: int) -> None:
    now = utcnow()
    with engine.begin() as conn:
        row = _load(conn, method_id, lock=True)
        conn.execute(payment_methods.delete().where(payment_methods.c.id == method_id))
        _record(conn, catalog.PAYMENT_METHOD_REMOVED, row, row.version + 1)
        if row.is_default:
            newest = conn.execute(
                sa.select(payment_methods)
                .where(account_filter(row.user_id, row.organization_id))
                .order_by(payment_methods.c.id.desc())
                .limit(1)
                .with_for_update()
            ).first()
            if newest is not None:
                promoted = _make_default(conn, newest, now)
                _record(conn, catalog.PAYMENT_METHOD_DEFAULT_SET, promoted, promoted.version)
