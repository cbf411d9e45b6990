"""Pricing plans: what each product costs (admins write, everyone reads), each change with
``pricing_plan.created``/``.updated`` through the outbox. Usage already recorded keeps the
price it was recorded with (usage_records snapshots it); a plan change prices what comes after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from billing_service import SERVICE_NAME
from billing_service.adapters.tables import RESOURCE_TYPES, pricing_plans
from cloudplatform.billing.v1 import events_pb2 as billing_events
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, InvalidInput, NotFound
from cpshared.events import catalog
from cpshared.events.envelope import new_event
from cpshared.events.outbox import write_events
from cpshared.events.registry import EventSpec

# Column precision (integer digits, decimals) of each price.
PRECISION = {"price_hourly": (4, 6), "price_monthly": (8, 2), "price_per_gb": (4, 6), "overage_price_per_tb": (8, 2)}


@dataclass(frozen=True)
class PlanFields:
    name: str
    code: str
    resource_type: str
    price_hourly: str
    price_monthly: str
    price_per_gb: str
    included_traffic_tb: int
    overage_price_per_tb: str
    currency: str
    active: bool


def _price(name: str, text: str) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{name} {text!r} is not a decimal amount") from None
    digits, places = PRECISION[name]
    if (
        not value.is_finite()
        or value < 0
        or value >= Decimal(10) ** digits
        or value != value.quantize(Decimal(1).scaleb(-places))
    ):
        raise InvalidInput(
            f"{name} {text!r} is a non-negative amount below {10**digits} with at most {places} decimals"
        )
    return value


def _values(fields: PlanFields) -> dict[str, Any]:
    if not 1 <= len(fields.name) <= 100:
        raise InvalidInput("name is 1 to 100 characters")
    if fields.resource_type not in RESOURCE_TYPES:
        raise InvalidInput(f"resource_type {fields.resource_type!r} is not one of {', '.join(RESOURCE_TYPES)}")
    currency = (fields.currency or "EUR").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInput(f"currency {currency!r} is not an ISO 4217 code")
    if not 0 <= fields.included_traffic_tb <= 100_000:
        raise InvalidInput("included_traffic_tb is 0 to 100000")
    values = {name: _price(name, getattr(fields, name)) for name in PRECISION}
    if all(v is None for v in values.values()):
        raise InvalidInput("a plan needs a price: price_hourly, price_monthly, price_per_gb or overage_price_per_tb")
    return {
        "name": fields.name,
        "resource_type": fields.resource_type,
        "included_traffic_tb": fields.included_traffic_tb,
        "currency": currency,
        "active": fields.active,
        **values,
    }


def _record(conn: Connection, spec: EventSpec, row: Row[Any], version: int) -> None:
    def text(value: Decimal | None) -> str:
        return "" if value is None else str(value)

    payload = billing_events.PricingPlanChanged(
        pricing_plan_id=row.id,
        code=row.code,
        name=row.name,
        resource_type=row.resource_type,
        price_hourly=text(row.price_hourly),
        price_monthly=text(row.price_monthly),
        price_per_gb=text(row.price_per_gb),
        included_traffic_tb=row.included_traffic_tb or 0,
        overage_price_per_tb=text(row.overage_price_per_tb),
        currency=row.currency or "",
        active=bool(row.active),
    )
    write_events(
        conn, [new_event(spec, producer=SERVICE_NAME, aggregate_id=row.id, aggregate_version=version, payload=payload)]
    )


def _naive_now() -> datetime:
    return utcnow().astimezone(UTC).replace(tzinfo=None)


def list_plans(engine: Engine, resource_type: str, include_inactive: bool) -> list[Row[Any]]:
    where: list[sa.ColumnElement[bool]] = []
    if resource_type:
        if resource_type not in RESOURCE_TYPES:
            raise InvalidInput(f"resource_type {resource_type!r} is not one of {', '.join(RESOURCE_TYPES)}")
        where.append(pricing_plans.c.resource_type == resource_type)
    if not include_inactive:
        where.append(pricing_plans.c.active.is_(True))
    with engine.connect() as conn:
        return list(conn.execute(sa.select(pricing_plans).where(*where).order_by(pricing_plans.c.id)).all())


def get(engine: Engine, plan_id: int) -> Row[Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(pricing_plans).where(pricing_plans.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"pricing plan {plan_id} does not exist")
    return row


def create(engine: Engine, fields: PlanFields) -> Row[Any]:
    if not (1 <= len(fields.code) <= 50 and fields.code.replace("-", "").replace("_", "").isalnum()):
        raise InvalidInput("code is 1 to 50 of letters, digits, - and _")
    values = _values(fields)
    now = _naive_now()
    try:
        with engine.begin() as conn:
            inserted = conn.execute(
                pricing_plans.insert().values(code=fields.code, created_at=now, updated_at=now, **values)
            )
            row = conn.execute(sa.select(pricing_plans).where(pricing_plans.c.id == inserted.lastrowid)).one()
            _record(conn, catalog.PRICING_PLAN_CREATED, row, 1)
            return row
    except IntegrityError:
        raise AlreadyExists(f"a pricing plan with the code {fields.code!r} exists") from None


def update(engine: Engine, plan_id: int, fields: PlanFields) -> Row[Any]:
    values = _values(fields)
    with engine.begin() as conn:
        row = conn.execute(sa.select(pricing_plans).where(pricing_plans.c.id == plan_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"pricing plan {plan_id} does not exist")
        if fields.code and fields.code != row.code:
            raise InvalidInput("a plan's code does not change; create a new plan instead")
        conn.execute(
            pricing_plans.update()
            .where(pricing_plans.c.id == plan_id)
            .values(updated_at=_naive_now(), version=row.version + 1, **values)
        )
        row = conn.execute(sa.select(pricing_plans).where(pricing_plans.c.id == plan_id)).one()
        _record(conn, catalog.PRICING_PLAN_UPDATED, row, row.version)
        return row
