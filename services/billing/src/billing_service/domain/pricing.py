"""Usage priced Hetzner's way: by the hour, capped at the monthly price per calendar month.

The rule, precisely:

* A *segment* is one resource's use of one product at one snapshotted price within one UTC
  calendar month: (resource type, resource id, metric, product, hourly price, monthly cap,
  currency, month of the period's start). A server that changes type within a month has one
  segment per type; a price change within the month (a new snapshot in the events) starts a
  new segment as well.
* A segment's charge is ``min(quantity x hourly price, monthly cap)`` (no cap when the event
  carried none), computed exactly in ``Decimal`` and rounded ONCE, to the cent, half up. So a
  segment never costs more than its own monthly price, and a month of a server never costs
  more than the sum of the monthly prices of the types it had.
* Prices in the events are gross, including the seller's VAT (``included_tax_rate``, e.g.
  19 %); an invoice line is net: ``charge / (1 + included_tax_rate / 100)``, rounded once
  per line with the cap applied before. Tax is then added per the account's country.
* Backups (resource type ``backup``, the server's id) are segments like any other, at the
  prices in their events (20 % of the server type's, computed by compute, which knows the
  type and its price at that hour): the seeded ``backup`` pricing plan only names the rule.
* Outgoing traffic (metric ``bandwidth_gb``, resource type ``server``: monitoring's hourly
  ``usage.recorded`` in GB of 2^30 bytes, without a price) is priced by billing's ``traffic``
  plan (:class:`TrafficTerms`): per server and calendar month, the plan's included TB (of 2^40
  bytes, 1024 GB, as Hetzner counts them) are free and each TB beyond costs the plan's gross
  price per TB, pro rata to the byte: ``max(0, GB - included GB) / 1024 x price per TB``,
  rounded once like every line. Its line is its own (quantity: the TB beyond the included).
* Usage that arrives after its month was invoiced is charged as an adjustment: the
  segment's charge over all its usage minus its charge over the usage already billed
  (both rounded as above, so successive adjustments add up to the charge of the whole).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
BACKUP = "backup"
"""Resource type of a server's backups: priced like every segment (by the hour, capped monthly)
at the prices compute snapshotted in the event (20 % of the server type's; see compute's
``domain.metering.backup_prices``)."""
MICRO = Decimal("0.000001")
HUNDRED = Decimal(100)
TRAFFIC = "bandwidth_gb"
"""The metric of outgoing traffic (GB of 2^30 bytes), priced by the ``traffic`` plan."""
GB_PER_TB = Decimal(1024)
TB_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class TrafficTerms:
    """Billing's ``traffic`` plan as the invoice run applies it: TB included per server and
    month, and the gross price of each TB beyond."""

    included_tb: int
    price_per_tb: Decimal

    @property
    def included_gb(self) -> Decimal:
        return Decimal(self.included_tb) * GB_PER_TB


NO_TRAFFIC_PLAN = TrafficTerms(0, Decimal(0))
"""Without an active ``traffic`` plan traffic is not charged (its lines show it at 0)."""


def traffic_overage_tb(quantity_gb: Decimal, traffic: TrafficTerms) -> Decimal:
    """The TB beyond the included traffic (exact)."""
    return max(quantity_gb - traffic.included_gb, Decimal(0)) / GB_PER_TB


def traffic_line_total(quantity_gb: Decimal, traffic: TrafficTerms, included_tax_rate: Decimal) -> Decimal:
    """A server's traffic of a month as an invoice line: the overage at the price per TB, net, rounded once."""
    gross = traffic_overage_tb(quantity_gb, traffic) * traffic.price_per_tb
    return to_cents(gross / (1 + included_tax_rate / HUNDRED))


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


@dataclass(frozen=True)
class MeteredUsage:
    """One usage record as the invoice run reads it."""

    resource_type: str
    resource_id: int
    metric_type: str
    product: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    price_hourly: Decimal
    price_monthly: Decimal | None
    currency: str
    resource_name: str = ""
    location: str = ""


@dataclass(frozen=True, order=True)
class SegmentKey:
    month: date
    resource_type: str
    resource_id: int
    metric_type: str
    product: str
    price_hourly: Decimal
    price_monthly: Decimal | None
    currency: str

    @classmethod
    def of(cls, usage: MeteredUsage) -> SegmentKey:
        return cls(
            month_of(usage.period_start),
            usage.resource_type,
            usage.resource_id,
            usage.metric_type,
            usage.product,
            usage.price_hourly,
            usage.price_monthly,
            usage.currency,
        )

    def sort_key(self) -> tuple[date, str, int, str, str, Decimal, Decimal]:
        cap = self.price_monthly if self.price_monthly is not None else Decimal(-1)
        return (
            self.month,
            self.resource_type,
            self.resource_id,
            self.metric_type,
            self.product,
            self.price_hourly,
            cap,
        )


@dataclass(frozen=True)
class Segment:
    key: SegmentKey
    quantity: Decimal
    period_start: datetime
    period_end: datetime
    resource_name: str
    location: str


def segments(usages: Iterable[MeteredUsage]) -> dict[SegmentKey, Segment]:
    grouped: dict[SegmentKey, list[MeteredUsage]] = defaultdict(list)
    for usage in usages:
        grouped[SegmentKey.of(usage)].append(usage)
    found: dict[SegmentKey, Segment] = {}
    for key, rows in grouped.items():
        last = max(rows, key=lambda u: u.period_end)
        found[key] = Segment(
            key=key,
            quantity=sum((u.quantity for u in rows), Decimal(0)),
            period_start=min(u.period_start for u in rows),
            period_end=last.period_end,
            resource_name=last.resource_name,
            location=last.location,
        )
    return found


def gross_charge(quantity: Decimal, price_hourly: Decimal, price_monthly: Decimal | None) -> Decimal:
    """The exact (unrounded) gross charge: hours x hourly price, at most the monthly cap."""
    amount = quantity * price_hourly
    if price_monthly is not None and amount > price_monthly:
        return price_monthly
    return amount


def net_line_total(
    quantity: Decimal, price_hourly: Decimal, price_monthly: Decimal | None, included_tax_rate: Decimal
) -> Decimal:
    """A segment's invoice line: the capped gross charge without the included tax, rounded once."""
    gross = gross_charge(quantity, price_hourly, price_monthly)
    return to_cents(gross / (1 + included_tax_rate / HUNDRED))


def net_unit_price(price: Decimal, included_tax_rate: Decimal) -> Decimal:
    return (price / (1 + included_tax_rate / HUNDRED)).quantize(MICRO, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    """One invoice line: a segment's charge (or, for an adjustment, the charge still owed)."""

    key: SegmentKey
    description: str
    quantity: Decimal
    unit_price: Decimal
    total: Decimal
    capped: bool
    period_start: datetime
    period_end: datetime
    location: str
    adjustment: bool = False


def _describe(segment: Segment, capped: bool, adjustment: bool) -> str:
    key = segment.key
    name = f" {segment.resource_name}" if segment.resource_name else ""
    if key.resource_type == BACKUP:  # a backup's resource is its server; the product the server's type
        text = f"Backups of server{name} (#{key.resource_id}) {key.product}, {key.month:%Y-%m}"
    else:
        text = f"{key.resource_type}{name} (#{key.resource_id}) {key.product}, {key.month:%Y-%m}"
    if capped:
        text += ", capped at the monthly price"
    if adjustment:
        text = f"Adjustment for late usage: {text}"
    return text


def _traffic_describe(segment: Segment, total_gb: Decimal, traffic: TrafficTerms, adjustment: bool) -> str:
    key = segment.key
    name = f" {segment.resource_name}" if segment.resource_name else ""
    text = (
        f"Outgoing traffic of server{name} (#{key.resource_id}), {key.month:%Y-%m}: "
        f"{total_gb.quantize(TB_PLACES)} GB, {traffic.included_tb} TB included"
    )
    return f"Adjustment for late usage: {text}" if adjustment else text


def _traffic_line(
    segment: Segment, billed_gb: Decimal, traffic: TrafficTerms, included_tax_rate: Decimal, adjustment: bool
) -> Line:
    """A server's traffic line: of a month (``billed_gb`` 0) or, for late traffic, what it adds
    to what the month's invoice billed (``billed_gb``)."""
    total_gb = billed_gb + segment.quantity
    before = traffic_line_total(billed_gb, traffic, included_tax_rate) if billed_gb else Decimal("0.00")
    overage = traffic_overage_tb(total_gb, traffic) - traffic_overage_tb(billed_gb, traffic)
    return Line(
        key=segment.key,
        description=_traffic_describe(segment, total_gb, traffic, adjustment),
        quantity=overage.quantize(TB_PLACES, rounding=ROUND_HALF_UP),
        unit_price=net_unit_price(traffic.price_per_tb, included_tax_rate),
        total=traffic_line_total(total_gb, traffic, included_tax_rate) - before,
        capped=False,
        period_start=segment.period_start,
        period_end=segment.period_end,
        location=segment.location,
        adjustment=adjustment,
    )


def price_segments(
    usages: Iterable[MeteredUsage], included_tax_rate: Decimal, traffic: TrafficTerms = NO_TRAFFIC_PLAN
) -> list[Line]:
    """One line per segment of ``usages``, in a stable order (traffic by ``traffic``)."""
    lines = []
    for segment in sorted(segments(usages).values(), key=lambda s: s.key.sort_key()):
        key = segment.key
        if key.metric_type == TRAFFIC:
            lines.append(_traffic_line(segment, Decimal(0), traffic, included_tax_rate, adjustment=False))
            continue
        capped = key.price_monthly is not None and segment.quantity * key.price_hourly > key.price_monthly
        lines.append(
            Line(
                key=key,
                description=_describe(segment, capped, adjustment=False),
                quantity=segment.quantity,
                unit_price=net_unit_price(key.price_hourly, included_tax_rate),
                total=net_line_total(segment.quantity, key.price_hourly, key.price_monthly, included_tax_rate),
                capped=capped,
                period_start=segment.period_start,
                period_end=segment.period_end,
                location=segment.location,
            )
        )
    return lines


def price_adjustments(
    late: Iterable[MeteredUsage],
    already_billed: Iterable[MeteredUsage],
    included_tax_rate: Decimal,
    traffic: TrafficTerms = NO_TRAFFIC_PLAN,
) -> list[Line]:
    """Lines for usage of months already invoiced: what each segment costs now minus what was billed."""
    late_segments = segments(late)
    billed_segments = segments(u for u in already_billed if SegmentKey.of(u) in late_segments)
    lines = []
    for key in sorted(late_segments, key=SegmentKey.sort_key):
        extra = late_segments[key]
        billed_quantity = billed_segments[key].quantity if key in billed_segments else Decimal(0)
        if key.metric_type == TRAFFIC:
            lines.append(_traffic_line(extra, billed_quantity, traffic, included_tax_rate, adjustment=True))
            continue
        before = (
            net_line_total(billed_quantity, key.price_hourly, key.price_monthly, included_tax_rate)
            if billed_quantity
            else Decimal("0.00")
        )
        after = net_line_total(billed_quantity + extra.quantity, key.price_hourly, key.price_monthly, included_tax_rate)
        capped = (
            key.price_monthly is not None and (billed_quantity + extra.quantity) * key.price_hourly > key.price_monthly
        )
        lines.append(
            Line(
                key=key,
                description=_describe(extra, capped, adjustment=True),
                quantity=extra.quantity,
                unit_price=net_unit_price(key.price_hourly, included_tax_rate),
                total=after - before,
                capped=capped,
                period_start=extra.period_start,
                period_end=extra.period_end,
                location=extra.location,
                adjustment=True,
            )
        )
    return lines


@dataclass(frozen=True)
class UsageRecord:
    """A stored usage record: its id (the invoice marks it billed) and owning user, and the usage."""

    id: int
    user_id: int
    usage: MeteredUsage
    total_cost: Decimal = Decimal(0)
    """quantity x hourly price as ingested (the seed's ``total_cost``), for the usage summary."""
