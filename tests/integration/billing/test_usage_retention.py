"""Retention of billed usage on a controlled clock: usage records billed on an invoice of a period
that ended more than 90 days ago are deleted (unbilled usage and younger periods' stay), counted
in ``retention_rows_removed_total``, and listed in ``usage_records_removed``; their events, delivered
again or replayed, are not ingested again (so they never come back as unbilled usage), the next
invoice is unaffected, and reconciliation compares the old period's invoices on their own figures
and the next period as usual. The operator command answers one JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import invoices, usage_records, usage_records_removed
from billing_service.bootstrap import Billing
from billing_service.config import BillingRules, RetentionSettings
from billing_service.entrypoints.reconcile import reconcile
from billing_service.entrypoints.retention_keeper import usage_retention
from cpshared.clock import ManualClock, set_clock
from cpshared.retention import ROWS_REMOVED, run_retention
from cpshared.topics import Topic
from tests.integration.backbone import KAFKA
from tests.integration.billing.support import OCTOBER, apply, hours, run_invoices, user_created
from tests.integration.test_consumer_crashes import produce

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)
SETTINGS = RetentionSettings(usage_retention_days=90)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_billed_usage_of_old_periods_is_removed_and_never_comes_back(
    billing_db: tuple[str, Engine], scratch_stream: Topic, clock: ManualClock
) -> None:
    url, engine = billing_db
    october = [user_created(10, topic=scratch_stream), *hours(1, OCTOBER, 100, user_id=10, topic=scratch_stream)]
    november = hours(1, NOVEMBER, 5, user_id=10, topic=scratch_stream)
    apply(engine, october + november)
    asyncio.run(produce(october + november))
    assert len(run_invoices(engine, OCTOBER.date(), RULES).issued) == 1
    billing = Billing(engine, RULES)
    retention = usage_retention(billing, SETTINGS)

    clock.set(datetime(2027, 1, 28, 12, 0, tzinfo=UTC))  # October ended 89 days ago: kept
    assert run_retention(engine, retention) == 0
    assert _count(engine, usage_records) == 105

    clock.set(datetime(2027, 1, 30, 12, 0, tzinfo=UTC))  # 91 days: October's billed usage goes
    counted = ROWS_REMOVED.labels("billing", "usage_records")._value.get()
    assert run_retention(engine, retention) == 100
    assert ROWS_REMOVED.labels("billing", "usage_records")._value.get() == counted + 100
    with engine.connect() as conn:
        left = conn.execute(sa.select(usage_records.c.recorded_at, usage_records.c.billed)).all()
        invoice_id = conn.execute(sa.select(invoices.c.id)).scalar_one()
        noted = conn.execute(sa.select(usage_records_removed.c.invoice_id).distinct()).scalars().all()
    assert len(left) == 5 and all(not billed and at >= NOVEMBER.replace(tzinfo=None) for at, billed in left)
    assert noted == [invoice_id] and _count(engine, usage_records_removed) == 100
    assert run_retention(engine, retention) == 0  # nothing more to remove

    apply(engine, october)  # delivered again: not ingested again
    assert _count(engine, usage_records) == 5

    old = asyncio.run(reconcile(engine, KAFKA, OCTOBER.date(), RULES, topics=(scratch_stream,)))
    assert old.usage_removed and old.differences == [] and old.clean
    with engine.begin() as conn:  # a tampered old invoice is still found
        conn.execute(invoices.update().values(total=invoices.c.total + 1))
    tampered = asyncio.run(reconcile(engine, KAFKA, OCTOBER.date(), RULES, topics=(scratch_stream,)))
    assert [d.field for d in tampered.differences] == ["total"]

    clock.set(datetime(2027, 2, 1, 3, 0, tzinfo=UTC))
    issued = run_invoices(engine, NOVEMBER.date(), RULES).issued
    assert len(issued) == 1
    with engine.connect() as conn:
        billed = conn.execute(
            sa.select(sa.func.count())
            .select_from(usage_records)
            .where(usage_records.c.invoice_id == issued[0].invoice_id)
        ).scalar_one()
    assert billed == 5  # November's hours only: October's removed usage did not come back unbilled
    assert asyncio.run(reconcile(engine, KAFKA, NOVEMBER.date(), RULES, topics=(scratch_stream,))).differences == []

    done = subprocess.run(
        [sys.executable, "-m", "billing_service.entrypoints.cli", "retention"],
        env=os.environ | {"CP_DATABASE_URL": url, "CP_USAGE_RETENTION_DAYS": "3660"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The command runs on the real clock; with ten years kept nothing is old enough.
    assert json.loads(done.stdout) == {"table": "usage_records", "rows_removed": 0, "kept_days": 3660}
