"""Metering: one ``usage.recorded`` (compute_hours) per server per started clock hour.

Driven by compute's own database, not by a timer's memory: each server's cursor
(``servers.metered_until``) says up to which hour its usage is recorded. A round claims the
servers with an hour to record, writes those hours' events to the outbox and advances the
cursors, all in ONE transaction — so a process killed at any line leaves either nothing or
everything of the round, and a worker that was down for hours records every missed hour,
each once, when it is back. Event ids are a function of (server, hour)
(:func:`~cpshared.events.envelope.usage_event_id`): should an hour be recorded twice anyway
(a cursor set back by hand), the outbox keeps the first row and billing's inbox counts one.

Backups: each hour recorded in which the server had backups enabled (``server_backup_periods``)
gets a second event, resource type ``backup`` (the server's id and name, product the server
type's code), at the backup period's percentage (billing's ``backup`` plan when backups were
enabled) of the prices of the type that priced the server's hour
(:func:`~compute_service.domain.metering.backup_prices`), its id a function of ("backup",
server, hour): written in the same transaction as the server's hour, so a crash or a rerun
never records it twice nor skips it.

Rounds are bounded (``max_servers`` servers and ``max_hours`` hours per transaction), so
catching up on a long outage is many small transactions, not one giant one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from cloudplatform.usage.v1 import events_pb2 as usage_pb
from compute_service import SERVICE_NAME
from compute_service.domain.metering import (
    HOUR,
    BackupPeriod,
    MeteredServer,
    backup_in_hour,
    backup_prices,
    epoch_seconds,
    hour_index,
    type_at,
)
from compute_service.service_layer.ports import TypePrice
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.events import catalog as events
from cpshared.events.envelope import PendingEvent, new_event, usage_event_id
from cpshared.logging import get_logger

log = get_logger(__name__)

RESOURCE_TYPE = "server"
BACKUP_RESOURCE_TYPE = "backup"
METRIC = "compute_hours"
CURRENCY = "EUR"


@dataclass(frozen=True)
class MeteringRound:
    servers: int
    hours: int
    """Hours recorded (events added to the outbox; a backup hour is one too)."""
    duplicates: int
    """Hours whose event the outbox held already (recorded before: nothing added)."""
    more: bool
    """The round was cut at its bounds: more may be due at once."""


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _usage_event(
    server: MeteredServer, hour: datetime, price: TypePrice, resource_type: str = RESOURCE_TYPE
) -> PendingEvent:
    return new_event(
        events.USAGE_RECORDED,
        producer=SERVICE_NAME,
        aggregate_id=f"{resource_type}:{server.id}",
        aggregate_version=hour_index(hour),
        event_id=usage_event_id(resource_type, server.id, METRIC, epoch_seconds(hour)),
        payload=usage_pb.UsageRecorded(
            resource_type=resource_type,
            resource_id=server.id,
            resource_name=server.name,
            user_id=server.user_id,
            organization_id=server.organization_id or 0,
            metric_type=METRIC,
            quantity="1",
            period_start=_timestamp(hour),
            period_end=_timestamp(hour + HOUR),
            product=price.code,
            location=server.datacenter,
            price_hourly=str(price.price_hourly),
            price_monthly=str(price.price_monthly),
            currency=CURRENCY,
        ),
    )


def _backup_event(server: MeteredServer, hour: datetime, price: TypePrice, period: BackupPeriod) -> PendingEvent:
    hourly, monthly = backup_prices(price.price_hourly, price.price_monthly, period.price_percent)
    return _usage_event(server, hour, TypePrice(price.code, hourly, monthly), BACKUP_RESOURCE_TYPE)


class Meter:
    def __init__(
        self, uow_factory: Callable[[], ComputeUnitOfWork], *, max_servers: int = 500, max_hours: int = 500
    ) -> None:
        if max_servers < 1 or max_hours < 1:
            raise ValueError("metering rounds need room for at least one server and one hour")
        self.uow_factory = uow_factory
        self.max_servers = max_servers
        self.max_hours = max_hours

    def run_once(self) -> MeteringRound:
        """Record the hours due now of up to ``max_servers`` servers (at most ``max_hours``), in one transaction."""
        with self.uow_factory() as uow:
            repository = uow.metering
            now = utcnow()
            servers = repository.claim_due(now, self.max_servers)
            if not servers:
                return MeteringRound(0, 0, 0, more=False)
            periods = repository.type_periods([s.id for s in servers])
            backups = repository.backup_periods([s.id for s in servers])
            planned: list[tuple[MeteredServer, list[tuple[datetime, int, BackupPeriod | None]]]] = []
            budget = self.max_hours
            for server in servers:
                if budget == 0:
                    break
                hours = server.hours_due(now, budget)
                budget -= len(hours)
                instants = [(hour, server.billed_instant(hour)) for hour in hours]
                planned.append(
                    (
                        server,
                        [
                            (
                                hour,
                                type_at(periods[server.id], at, server.server_type_id),
                                backup_in_hour(backups[server.id], hour, at),
                            )
                            for hour, at in instants
                        ],
                    )
                )
            prices = repository.prices({type_id for _, priced in planned for _, type_id, _ in priced})
            recorded: list[PendingEvent] = []
            for server, priced in planned:
                for hour, type_id, backup_period in priced:
                    recorded.append(_usage_event(server, hour, prices[type_id]))
                    if backup_period is not None:
                        recorded.append(_backup_event(server, hour, prices[type_id], backup_period))
            added = uow.record_once(recorded)
            for server, priced in planned:
                if priced:
                    repository.advance(server.id, priced[-1][0] + HOUR)
            uow.commit()
        duplicates = len(recorded) - len(added)
        if duplicates:
            log.warning("usage_already_recorded", hours=duplicates)
        return MeteringRound(len(planned), len(added), duplicates, more=len(servers) == self.max_servers or budget == 0)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> MeteringRound:
        """Rounds until nothing is due (or ``should_stop``); the totals."""
        servers = hours = duplicates = 0
        while True:
            done = self.run_once()
            servers, hours, duplicates = servers + done.servers, hours + done.hours, duplicates + done.duplicates
            if not done.more or should_stop() or not (done.hours or done.duplicates):
                return MeteringRound(servers, hours, duplicates, more=done.more)
