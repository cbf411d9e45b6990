"""A server with backups on part of a month, metered by compute's own event builders and
invoiced by the real invoice run: a backup line beside the server line, at 20 % of the type's
prices, capped at 20 % of its monthly price; a second run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import invoice_items, invoices, usage_records
from billing_service.config import BillingRules
from compute_service.adapters.metering_repository import TypePrice
from compute_service.domain.metering import BackupPeriod, MeteredServer
from compute_service.service_layer.metering import _backup_event, _usage_event
from cpshared.clock import ManualClock, set_clock
from cpshared.events.envelope import PendingEvent
from tests.integration.billing.support import OCTOBER, apply, run_invoices, user_created

RULES = BillingRules(billing_seller_country="DE", billing_included_tax_rate=Decimal(19), billing_payment_terms_days=14)
CX22 = TypePrice("cx22", Decimal("0.007400"), Decimal("4.59"))
BACKUPS_AT_20 = BackupPeriod(OCTOBER, None, Decimal(20))  # billing's seeded backup plan


def _net(gross: Decimal) -> Decimal:
    return (gross / Decimal("1.19")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


def _server(server_id: int, name: str) -> MeteredServer:
    return MeteredServer(server_id, 10, None, name, "fsn1", 1, OCTOBER, None, None)


def _metered(server: MeteredServer, hours: range, backups: range) -> list[PendingEvent]:
    """What compute's metering writes: a server hour each hour, a backup hour where backups were on."""
    found = []
    for n in hours:
        hour = OCTOBER + timedelta(hours=n)
        found.append(_usage_event(server, hour, CX22))
        if n in backups:
            found.append(_backup_event(server, hour, CX22, BACKUPS_AT_20))
    return found


def test_backups_are_a_line_of_their_own_capped_at_a_fifth_of_the_monthly_price(
    billing_db: tuple[str, Engine], clock: ManualClock
) -> None:
    _, engine = billing_db
    whole = _server(1, "db-1")  # backups all month: the backup line reaches its cap
    part = _server(2, "web-1")  # backups for 50 of its 100 hours
    apply(engine, [user_created(10), *_metered(whole, range(744), range(744)), *_metered(part, range(100), range(50))])
    with engine.connect() as conn:
        kinds = conn.execute(
            sa.select(usage_records.c.resource_type, sa.func.count()).group_by(usage_records.c.resource_type)
        ).all()
    assert dict(kinds) == {"server": 844, "backup": 794}

    report = run_invoices(engine, date(2026, 10, 1), RULES)
    assert len(report.issued) == 1
    with engine.connect() as conn:
        lines = conn.execute(
            sa.select(invoice_items)
            .where(invoice_items.c.invoice_id == report.issued[0].invoice_id)
            .order_by(invoice_items.c.resource_type, invoice_items.c.resource_id)
        ).all()
        invoice = conn.execute(sa.select(invoices)).one()
    backup_lines = [line for line in lines if line.resource_type == "backup"]
    assert [(line.resource_id, line.quantity) for line in backup_lines] == [(1, 744), (2, 50)]
    capped, hourly = backup_lines
    # 20 % of cx22: 0.00148/h and 0.91/month (0.918, cut to the cent so never above 20 %).
    assert capped.total == _net(Decimal("0.91")) and "capped" in capped.description
    assert capped.description.startswith("Backups of server db-1 (#1) cx22, 2026-10")
    assert hourly.total == _net(50 * Decimal("0.00148")) and "capped" not in hourly.description
    assert hourly.description.startswith("Backups of server web-1 (#2) cx22")
    server_whole = next(line for line in lines if (line.resource_type, line.resource_id) == ("server", 1))
    assert server_whole.total == _net(Decimal("4.59"))
    assert capped.total <= _net(Decimal("4.59") / 5)
    assert invoice.subtotal == sum((line.total for line in lines), Decimal(0))
    assert run_invoices(engine, date(2026, 10, 1), RULES).issued == []
