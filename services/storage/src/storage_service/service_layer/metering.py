"""Metering: one ``usage.recorded`` (``storage_gb_hours``, resource type ``volume``) per volume
per started clock hour, priced from billing's ``volume`` plan (domain/metering.py); and one
(resource type ``snapshot``) per available server snapshot per started hour, priced from
billing's ``snapshot`` plan per GB and month (cursor ``snapshots.metered_until``).

Driven by storage's own database: each volume's cursor (``volumes.metered_until``) says up to
which hour its usage is recorded. A round claims the volumes with an hour to record, writes
those hours' events to the outbox and advances the cursors in ONE transaction, so a process
killed at any line leaves all or nothing of the round and a worker down for hours records every
missed hour, each once, when it is back. Event ids are a function of (volume, hour)
(:func:`~cpshared.events.envelope.usage_event_id`): an hour recorded twice anyway is kept once
by the outbox and counted once by billing's inbox. Billing that does not answer leaves the
cursors where they are (the hours are recorded on a later round)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.timestamp_pb2 import Timestamp

from cloudplatform.usage.v1 import events_pb2 as usage_pb
from cpshared.clock import utcnow
from cpshared.events import catalog as events
from cpshared.events.envelope import PendingEvent, new_event, usage_event_id
from cpshared.logging import get_logger
from cpshared.metering import HOUR, epoch_seconds, hour_index, hours_due
from storage_service import SERVICE_NAME
from storage_service.domain.metering import (
    MeteredVolume,
    product,
    size_at,
    snapshot_prices,
    snapshot_product,
    volume_prices,
)
from storage_service.domain.snapshots import MeteredSnapshot
from storage_service.service_layer.ports import PricePlans
from storage_service.service_layer.unit_of_work import StorageUnitOfWork

log = get_logger(__name__)

RESOURCE_TYPE = "volume"
SNAPSHOT_RESOURCE_TYPE = "snapshot"
METRIC = "storage_gb_hours"


@dataclass(frozen=True)
class MeteringRound:
    volumes: int
    hours: int
    duplicates: int
    more: bool


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def usage_event(volume: MeteredVolume, hour: datetime, size_gb: int, per_gb: Decimal, currency: str) -> PendingEvent:
    hourly, monthly = volume_prices(size_gb, per_gb)
    return new_event(
        events.USAGE_RECORDED,
        producer=SERVICE_NAME,
        aggregate_id=f"{RESOURCE_TYPE}:{volume.id}",
        aggregate_version=hour_index(hour),
        event_id=usage_event_id(RESOURCE_TYPE, volume.id, METRIC, epoch_seconds(hour)),
        payload=usage_pb.UsageRecorded(
            resource_type=RESOURCE_TYPE,
            resource_id=volume.id,
            resource_name=volume.name,
            user_id=volume.user_id,
            organization_id=volume.organization_id or 0,
            metric_type=METRIC,
            quantity="1",
            period_start=_timestamp(hour),
            period_end=_timestamp(hour + HOUR),
            product=product(size_gb),
            location=volume.location,
            price_hourly=str(hourly),
            price_monthly=str(monthly),
            currency=currency,
        ),
    )


def snapshot_usage_event(snapshot: MeteredSnapshot, hour: datetime, per_gb: Decimal, currency: str) -> PendingEvent:
    hourly, monthly = snapshot_prices(snapshot.size_gb, per_gb)
    return new_event(
        events.USAGE_RECORDED,
        producer=SERVICE_NAME,
        aggregate_id=f"{SNAPSHOT_RESOURCE_TYPE}:{snapshot.id}",
        aggregate_version=hour_index(hour),
        event_id=usage_event_id(SNAPSHOT_RESOURCE_TYPE, snapshot.id, METRIC, epoch_seconds(hour)),
        payload=usage_pb.UsageRecorded(
            resource_type=SNAPSHOT_RESOURCE_TYPE,
            resource_id=snapshot.id,
            resource_name=f"of server #{snapshot.resource_id}",  # the line: "snapshot of server #5 (#31) 2.50 GB"
            user_id=snapshot.user_id,
            organization_id=snapshot.organization_id or 0,
            metric_type=METRIC,
            quantity="1",
            period_start=_timestamp(hour),
            period_end=_timestamp(hour + HOUR),
            product=snapshot_product(snapshot.size_gb),
            price_hourly=str(hourly),
            price_monthly=str(monthly),
            currency=currency,
        ),
    )


class Meter:
    def __init__(
        self,
        uow_factory: Callable[[], StorageUnitOfWork],
        plans: PricePlans,
        *,
        max_volumes: int = 500,
        max_hours: int = 500,
    ) -> None:
        if max_volumes < 1 or max_hours < 1:
            raise ValueError("metering rounds need room for at least one volume and one hour")
        self.uow_factory = uow_factory
        self.plans = plans
        self.max_volumes = max_volumes
        self.max_hours = max_hours

    def run_once(self) -> MeteringRound:
        with self.uow_factory() as uow:
            now = utcnow()
            due = uow.metering.claim_due(now, self.max_volumes)
            if not due:
                return MeteringRound(0, 0, 0, more=False)
            per_gb, currency = self.plans.volume_per_gb_month()
            periods = uow.metering.size_periods([volume.id for volume in due])
            recorded: list[PendingEvent] = []
            advanced: list[tuple[int, datetime]] = []
            budget = self.max_hours
            for volume in due:
                if budget == 0:
                    break
                hours = volume.hours_due(now, budget)
                budget -= len(hours)
                for hour in hours:
                    size = size_at(periods.get(volume.id, []), volume.billed_instant(hour), volume.size_gb)
                    recorded.append(usage_event(volume, hour, size, per_gb, currency))
                if hours:
                    advanced.append((volume.id, hours[-1] + HOUR))
            added = uow.record_once(recorded)
            for volume_id, until in advanced:
                uow.metering.advance(volume_id, until)
            uow.commit()
        duplicates = len(recorded) - len(added)
        if duplicates:
            log.warning("usage_already_recorded", hours=duplicates)
        return MeteringRound(len(advanced), len(added), duplicates, more=len(due) == self.max_volumes or budget == 0)

    def run_snapshots_once(self) -> MeteringRound:
        """As :meth:`run_once`, for snapshots (``volumes`` counts snapshots here)."""
        with self.uow_factory() as uow:
            now = utcnow()
            due = uow.metering.claim_due_snapshots(now, self.max_volumes)
            if not due:
                return MeteringRound(0, 0, 0, more=False)
            per_gb, currency = self.plans.snapshot_per_gb_month()
            recorded: list[PendingEvent] = []
            advanced: list[tuple[int, datetime]] = []
            budget = self.max_hours
            for snapshot in due:
                if budget == 0:
                    break
                hours = hours_due(snapshot.created_at, snapshot.deleted_at, snapshot.metered_until, now, budget)
                budget -= len(hours)
                recorded.extend(snapshot_usage_event(snapshot, hour, per_gb, currency) for hour in hours)
                if hours:
                    advanced.append((snapshot.id, hours[-1] + HOUR))
            added = uow.record_once(recorded)
            for snapshot_id, until in advanced:
                uow.metering.advance_snapshot(snapshot_id, until)
            uow.commit()
        duplicates = len(recorded) - len(added)
        return MeteringRound(len(advanced), len(added), duplicates, more=len(due) == self.max_volumes or budget == 0)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> MeteringRound:
        """Rounds until nothing is due (or ``should_stop``), volumes then snapshots; the totals."""
        first = self._rounds(self.run_once, should_stop)
        second = self._rounds(self.run_snapshots_once, should_stop)
        return MeteringRound(
            first.volumes + second.volumes,
            first.hours + second.hours,
            first.duplicates + second.duplicates,
            more=first.more or second.more,
        )

    def _rounds(self, once: Callable[[], MeteringRound], should_stop: Callable[[], bool]) -> MeteringRound:
        volumes = hours = duplicates = 0
        while True:
            done = once()
            volumes, hours, duplicates = volumes + done.volumes, hours + done.hours, duplicates + done.duplicates
            if not done.more or should_stop() or not (done.hours or done.duplicates):
                return MeteringRound(volumes, hours, duplicates, more=done.more)
