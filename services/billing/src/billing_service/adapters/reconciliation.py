"""What reconciliation reads from billing's database: the period's issued invoices, their lines,
the live usage records and their invoice links, credits, and the records rebuilt from the
streams into scratch tables (``entrypoints/reconcile.py``) — as the plain records of
``domain.reconciliation`` and ``service_layer.reconciliation.PeriodRecords``."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from billing_service.adapters.repositories import metered, plan_of, profile_of
from billing_service.adapters.tables import (
    credit_applications,
    credits,
    invoice_items,
    invoices,
    pricing_plans,
    usage_records,
    usage_records_removed,
)
from billing_service.domain.accounts import Account
from billing_service.domain.pricing import TrafficTerms
from billing_service.domain.pricing_plans import traffic_terms
from billing_service.domain.reconciliation import UsageRecord, period_bounds
from billing_service.service_layer.reconciliation import PeriodRecords


def usage_record(row: Row[Any]) -> UsageRecord:
    """A ``usage_records`` row, live or rebuilt."""
    invoice_id = getattr(row, "invoice_id", None)
    return UsageRecord(
        event_id=bytes(row.event_id),
        account=Account.of(int(row.user_id), row.organization_id),
        user_id=int(row.user_id),
        usage=metered(row),
        invoice_id=None if invoice_id is None else int(invoice_id),
    )


def issued_invoices(engine: Engine, period: date) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(invoices).where(invoices.c.billing_period_start == period).order_by(invoices.c.id))
        )


def _usage(conn: Connection, table: sa.Table, since: Any, end: Any) -> list[UsageRecord]:
    query = sa.select(table).where(table.c.recorded_at < end)
    if since is not None:
        query = query.where(table.c.recorded_at >= since)
    return [usage_record(r) for r in conn.execute(query.order_by(table.c.id))]


def read_period(
    engine: Engine, period: date, issued: list[Row[Any]], rebuilt_usage: sa.Table, rebuilt_accounts: sa.Table
) -> PeriodRecords:
    """Everything the comparison of ``period`` needs, read in one connection. Of an open period
    (``issued`` empty) the usage of the period itself, live and rebuilt; of an invoiced one every
    record before the period's end (late usage of earlier months included) and the links."""
    start, end = period_bounds(period)
    with engine.connect() as conn:
        if not issued:
            return PeriodRecords(
                rebuilt=_usage(conn, rebuilt_usage, start, end), live=_usage(conn, usage_records, start, end)
            )
        rebuilt = _usage(conn, rebuilt_usage, None, end)
        # Every live usage row before the period's end: event id -> the invoice it is billed on (or None).
        links: dict[bytes, int | None] = {
            bytes(r.event_id): None if r.invoice_id is None else int(r.invoice_id)
            for r in conn.execute(
                sa.select(usage_records.c.event_id, usage_records.c.invoice_id).where(usage_records.c.recorded_at < end)
            )
        }
        issued_ids = [int(i.id) for i in issued]
        linked: dict[int, set[bytes]] = defaultdict(set)
        for r in conn.execute(
            sa.select(usage_records.c.event_id, usage_records.c.invoice_id).where(
                usage_records.c.invoice_id.in_(issued_ids)
            )
        ):
            linked[int(r.invoice_id)].add(bytes(r.event_id))
        invoice_periods: dict[int, date] = {}
        invoice_numbers: dict[int, str] = {}
        account_periods: dict[tuple[str, int], set[date]] = defaultdict(set)
        for inv in conn.execute(
            sa.select(
                invoices.c.id,
                invoices.c.billing_period_start,
                invoices.c.invoice_number,
                invoices.c.account_type,
                invoices.c.account_id,
            )
        ):
            invoice_periods[int(inv.id)] = inv.billing_period_start
            invoice_numbers[int(inv.id)] = str(inv.invoice_number)
            account_periods[(inv.account_type, int(inv.account_id))].add(inv.billing_period_start)
        profiles = {
            (r.account_type, int(r.account_id)): profile_of(r) for r in conn.execute(sa.select(rebuilt_accounts))
        }
        items: dict[int, list[Row[Any]]] = defaultdict(list)
        for item in conn.execute(
            sa.select(invoice_items).where(invoice_items.c.invoice_id.in_(issued_ids)).order_by(invoice_items.c.id)
        ):
            items[int(item.invoice_id)].append(item)
        return PeriodRecords(
            rebuilt=rebuilt,
            links=links,
            linked=dict(linked),
            invoice_periods=invoice_periods,
            invoice_numbers=invoice_numbers,
            account_periods=dict(account_periods),
            profiles=profiles,
            items=dict(items),
            credits=list(conn.execute(sa.select(credits).order_by(credits.c.id))),
            applications=list(conn.execute(sa.select(credit_applications))),
            removed={
                int(invoice_id)
                for invoice_id in conn.execute(
                    sa.select(usage_records_removed.c.invoice_id)
                    .where(usage_records_removed.c.invoice_id.in_(issued_ids))
                    .distinct()
                ).scalars()
            },
        )


def traffic_plan(engine: Engine) -> TrafficTerms:
    """The ``traffic`` plan the invoice run applies (the active one today)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(pricing_plans).where(
                pricing_plans.c.resource_type == "bandwidth", pricing_plans.c.active.is_(True)
            )
        ).all()
    return traffic_terms([plan_of(r) for r in rows])
