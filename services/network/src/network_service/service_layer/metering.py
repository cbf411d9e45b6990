"""Metering: one ``usage.recorded`` per floating IP and per load balancer per started clock hour,
priced by billing's plan of its type (``floating_ip_ipv4``, ``lb11`` …; so billing invoices them
on lines of their own, ``load_balancer <name> (#id) lb11, <month>``, capped at the plan's monthly
price by billing).

Driven by network's own database: each floating IP's cursor (``floating_ips.metered_until``)
says up to which hour its usage is recorded. A round claims the floating IPs with an hour to
record, writes those hours' events to the outbox and advances the cursors in ONE transaction,
so a worker killed at any line leaves nothing or everything of the round, and one that was down
records every missed hour once when it is back. Event ids are a function of (floating IP,
hour) (:func:`cpshared.metering.usage_recorded`): an hour recorded twice is one event.
A type without an active plan is not recorded (its cursor waits) until billing offers one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cpshared.clock import utcnow
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from cpshared.metering import HOUR, usage_recorded
from network_service import SERVICE_NAME
from network_service.domain.metering import Price
from network_service.service_layer.ports import LoadBalancerPrices, Prices
from network_service.service_layer.unit_of_work import NetworkUnitOfWork

log = get_logger(__name__)

RESOURCE_TYPE = "floating_ip"
PRIMARY_IP_RESOURCE_TYPE = "primary_ip"
LOAD_BALANCER = "load_balancer"
METRIC = "compute_hours"
"""Billing's metric of billable resource-hours (its usage_records enum: hours of any resource —
servers, floating IPs, primary IPs, load balancers). Billing's invoice lines are keyed by resource
type and product (the plan's code), so each kind gets lines of its own under the one metric."""


@dataclass(frozen=True)
class MeteringRound:
    floating_ips: int
    hours: int
    duplicates: int
    more: bool


class Meter:
    def __init__(
        self,
        uow_factory: Callable[[], NetworkUnitOfWork],
        prices: Prices,
        *,
        max_floating_ips: int = 500,
        max_hours: int = 500,
        load_balancer_prices: LoadBalancerPrices | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.prices = prices
        self.load_balancer_prices = load_balancer_prices
        self.max_floating_ips = max_floating_ips
        self.max_hours = max_hours

    def run_once(self) -> MeteringRound:
        """Record the hours due now of up to ``max_floating_ips`` floating IPs, then of as many
        primary IPs, each kind in one transaction."""
        fips = self._floating_ips_once()
        pips = self._primary_ips_once()
        return MeteringRound(
            fips.floating_ips + pips.floating_ips,
            fips.hours + pips.hours,
            fips.duplicates + pips.duplicates,
            more=fips.more or pips.more,
        )

    def _primary_ips_once(self) -> MeteringRound:
        with self.uow_factory() as uow:
            now = utcnow()
            due = uow.primary_ip_metering.claim_due(now, self.max_floating_ips)
            if not due:
                return MeteringRound(0, 0, 0, more=False)
            plans: dict[str, Price | None] = {kind: self.prices.primary_ip(kind) for kind in {p.type for p in due}}
            recorded: list[PendingEvent] = []
            advanced = 0
            budget = self.max_hours
            for pip in due:
                price = plans[pip.type]
                if price is None:
                    continue  # not offered (Hetzner bills primary IPv6 nothing): its cursor waits
                hours = pip.hours_due(now, budget)
                budget -= len(hours)
                recorded.extend(
                    usage_recorded(
                        producer=SERVICE_NAME,
                        resource_type=PRIMARY_IP_RESOURCE_TYPE,
                        resource_id=pip.id,
                        resource_name=pip.name,
                        user_id=pip.user_id,
                        organization_id=pip.organization_id,
                        metric=METRIC,
                        hour=hour,
                        product=price.code,
                        location=pip.location,
                        price_hourly=price.price_hourly,
                        price_monthly=price.price_monthly,
                        currency=price.currency,
                    )
                    for hour in hours
                )
                if hours:
                    uow.primary_ip_metering.advance(pip.id, hours[-1] + HOUR)
                    advanced += 1
                if budget == 0:
                    break
            added = uow.record_once(recorded)
            uow.commit()
        more = len(due) == self.max_floating_ips or budget == 0
        return MeteringRound(advanced, len(added), len(recorded) - len(added), more=more)

    def _floating_ips_once(self) -> MeteringRound:
        with self.uow_factory() as uow:
            now = utcnow()
            due = uow.metering.claim_due(now, self.max_floating_ips)
            lbs_recorded, lbs_advanced, lbs_more = self._load_balancers(uow, now)
            if not due and not lbs_recorded and not lbs_advanced:
                uow.commit()
                return MeteringRound(0, 0, 0, more=lbs_more)
            plans: dict[str, Price | None] = {kind: self.prices.floating_ip(kind) for kind in {f.type for f in due}}
            recorded: list[PendingEvent] = []
            advanced: list[tuple[int, int]] = []  # (floating IP, hours)
            budget = self.max_hours
            for fip in due:
                price = plans[fip.type]
                if price is None:
                    log.warning("floating_ip_not_priced", floating_ip_id=fip.id, type=fip.type)
                    continue
                hours = fip.hours_due(now, budget)
                budget -= len(hours)
                for hour in hours:
                    recorded.append(
                        usage_recorded(
                            producer=SERVICE_NAME,
                            resource_type=RESOURCE_TYPE,
                            resource_id=fip.id,
                            resource_name=fip.name,
                            user_id=fip.user_id,
                            organization_id=fip.organization_id,
                            metric=METRIC,
                            hour=hour,
                            product=price.code,
                            location=fip.home_location,
                            price_hourly=price.price_hourly,
                            price_monthly=price.price_monthly,
                            currency=price.currency,
                        )
                    )
                if hours:
                    uow.metering.advance(fip.id, hours[-1] + HOUR)
                    advanced.append((fip.id, len(hours)))
                if budget == 0:
                    break
            recorded += lbs_recorded
            added = uow.record_once(recorded)
            uow.commit()
        duplicates = len(recorded) - len(added)
        if duplicates:
            log.warning("usage_already_recorded", hours=duplicates)
        more = len(due) == self.max_floating_ips or budget == 0 or lbs_more
        return MeteringRound(len(advanced) + lbs_advanced, len(added), duplicates, more=more)

    def _load_balancers(self, uow: NetworkUnitOfWork, now: datetime) -> tuple[list[PendingEvent], int, bool]:
        """The load balancers' hours due now (their cursors advanced): (events, load balancers, more)."""
        if self.load_balancer_prices is None:
            return [], 0, False
        due = uow.load_balancers.claim_due(now, self.max_floating_ips)
        recorded: list[PendingEvent] = []
        advanced = 0
        budget = self.max_hours
        for lb in due:
            price = self.load_balancer_prices.load_balancer(lb.type)
            if price is None:
                log.warning("load_balancer_not_priced", load_balancer_id=lb.id, type=lb.type)
                continue
            hours = lb.hours_due(now, budget)
            budget -= len(hours)
            for hour in hours:
                recorded.append(
                    usage_recorded(
                        producer=SERVICE_NAME,
                        resource_type=LOAD_BALANCER,
                        resource_id=lb.id,
                        resource_name=lb.name,
                        user_id=lb.user_id,
                        organization_id=lb.organization_id,
                        metric=METRIC,
                        hour=hour,
                        product=price.code,
                        location=lb.location,
                        price_hourly=price.price_hourly,
                        price_monthly=price.price_monthly,
                        currency=price.currency,
                    )
                )
            if hours:
                uow.load_balancers.advance(lb.id, hours[-1] + HOUR)
                advanced += 1
            if budget == 0:
                break
        return recorded, advanced, len(due) == self.max_floating_ips or budget == 0

    def run(self) -> MeteringRound:
        """Rounds until nothing is due; the totals."""
        fips = hours = duplicates = 0
        while True:
            done = self.run_once()
            fips, hours, duplicates = fips + done.floating_ips, hours + done.hours, duplicates + done.duplicates
            if not done.more or not (done.hours or done.duplicates):
                return MeteringRound(fips, hours, duplicates, more=done.more)
