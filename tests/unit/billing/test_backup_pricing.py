"""Backups priced as compute meters them and billing invoices them: for random server prices,
random backup percentages (billing's ``backup`` plan states one; 20 by default) and random hours
with backups on within a month, the backup line equals a plain reference and never costs more
than the percentage of what the server's own hours cost, capped (so never more than that share
of the monthly cap)."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_service.domain.pricing import MeteredUsage, net_line_total, price_segments
from compute_service.domain.metering import backup_prices

CENT = Decimal("0.01")


def _usage(kind: str, hour: datetime, product: str, hourly: Decimal, monthly: Decimal) -> MeteredUsage:
    return MeteredUsage(
        kind, 7, "compute_hours", product, hour, hour + timedelta(hours=1), Decimal(1), hourly, monthly, "EUR", "db-1"
    )


prices = st.tuples(
    st.integers(1, 2_000_000).map(lambda n: Decimal(n).scaleb(-6)),  # hourly: DECIMAL(10,6)
    st.integers(1, 200_000).map(lambda n: Decimal(n).scaleb(-2)),  # monthly: DECIMAL(10,2)
)


@settings(max_examples=400, deadline=None)
@given(
    prices,
    st.integers(2024, 2027),
    st.integers(1, 12),
    st.data(),
    st.sampled_from([Decimal(0), Decimal(19), Decimal("25.5")]),
    st.sampled_from([Decimal(20), Decimal(10), Decimal("33.33"), Decimal(100)]),
)
def test_a_backup_line_is_the_reference_and_never_more_than_its_share_of_the_server(
    price: tuple[Decimal, Decimal], year: int, month: int, data: st.DataObject, included: Decimal, percent: Decimal
) -> None:
    share = percent / 100
    hourly, monthly = price
    month_hours = monthrange(year, month)[1] * 24
    hours = data.draw(st.sets(st.integers(0, month_hours - 1), min_size=1, max_size=month_hours))
    start = datetime(year, month, 1, tzinfo=UTC)
    backup_hourly, backup_monthly = backup_prices(hourly, monthly, percent)
    usages = []
    for hour in sorted(hours):
        at = start + timedelta(hours=hour)
        usages.append(_usage("server", at, "cx22", hourly, monthly))
        usages.append(_usage("backup", at, "cx22", backup_hourly, backup_monthly))
    lines = {line.key.resource_type: line for line in price_segments(usages, included)}
    backup, server = lines["backup"], lines["server"]

    # The reference: the share of each price, cut (never rounded up) to the catalog's precision.
    assert backup_hourly == (hourly * share).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    assert backup_monthly == (monthly * share).quantize(CENT, rounding="ROUND_DOWN")
    gross = min(len(hours) * backup_hourly, backup_monthly)
    assert backup.total == (gross / (1 + included / 100)).quantize(CENT, rounding=ROUND_HALF_UP)
    assert backup.quantity == len(hours)

    # Never more than the share: of the monthly cap, and of the server's own line for the same hours.
    share_of_cap = net_line_total(Decimal(1), monthly * share, None, included)
    assert backup.total <= share_of_cap
    assert backup.total <= net_line_total(Decimal(1), gross_server(len(hours), hourly, monthly) * share, None, included)
    assert backup.total <= server.total  # a share of it, rounded: never above the whole

    assert backup.description.startswith("Backups of server db-1 (#7) cx22")
    assert backup.capped == (len(hours) * backup_hourly > backup_monthly)


def gross_server(hours: int, hourly: Decimal, monthly: Decimal) -> Decimal:
    return min(hours * hourly, monthly)


def test_backup_prices_of_a_hetzner_type() -> None:
    # cx22 at 0.0074/h and 4.59/month: backups 0.00148/h and 0.91/month (0.918 cut to the cent).
    assert backup_prices(Decimal("0.0074"), Decimal("4.59"), Decimal(20)) == (Decimal("0.001480"), Decimal("0.91"))
