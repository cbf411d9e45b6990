"""The outside world as monitoring's service layer sees it: its repositories and the upstream
cloud's metrics. The adapters implement them (adapters/), the bootstrap wires them."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from monitoring_service.domain.alert_rules import AlertRule
from monitoring_service.domain.alerts import Alert
from monitoring_service.domain.metrics import MetricsQuery
from monitoring_service.domain.retention import DayPartition
from monitoring_service.domain.servers import MonitoredServer
from monitoring_service.domain.traffic import HourTraffic, MeteredHour
from monitoring_service.domain.uptime_monitors import CheckResult, UptimeMonitor


class AlertRuleRepository(abc.ABC):
    seen: list[AlertRule]
    """The rules added, saved or deleted in this unit of work: it collects their events on commit."""

    @abc.abstractmethod
    def add(self, rule: AlertRule) -> AlertRule:
        """Insert ``rule``; it gets its id."""

    @abc.abstractmethod
    def get(self, rule_id: int, *, for_update: bool = False) -> AlertRule | None: ...

    @abc.abstractmethod
    def of_tenant(self, user_id: int, organization_id: int | None, resource_type: str) -> list[AlertRule]:
        """The rules of the user (those bound to no organization) and of ``organization_id``, by id."""

    @abc.abstractmethod
    def save(self, rule: AlertRule) -> None: ...

    @abc.abstractmethod
    def delete(self, rule: AlertRule) -> None: ...


class UptimeMonitorRepository(abc.ABC):
    seen: list[UptimeMonitor]
    """The monitors added, saved or deleted in this unit of work: it collects their events on commit."""

    @abc.abstractmethod
    def add(self, monitor: UptimeMonitor) -> UptimeMonitor:
        """Insert ``monitor``; it gets its id."""

    @abc.abstractmethod
    def get(self, monitor_id: int, *, for_update: bool = False) -> UptimeMonitor | None: ...

    @abc.abstractmethod
    def of_tenant(self, user_id: int, organization_id: int | None) -> list[UptimeMonitor]:
        """The monitors of the user (those bound to no organization) and of ``organization_id``, by id."""

    @abc.abstractmethod
    def due(self, now: datetime, region: str, limit: int) -> list[UptimeMonitor]:
        """Enabled monitors of ``region`` whose next check is due, locked (others skip them), oldest due first."""

    @abc.abstractmethod
    def save(self, monitor: UptimeMonitor) -> None: ...

    @abc.abstractmethod
    def delete(self, monitor: UptimeMonitor) -> None:
        """Remove the monitor and its results."""

    @abc.abstractmethod
    def add_result(self, monitor_id: int, result: CheckResult) -> None: ...

    @abc.abstractmethod
    def results(self, monitor_id: int, since: datetime, limit: int) -> list[CheckResult]:
        """The monitor's results since ``since``, newest first."""

    @abc.abstractmethod
    def counts(self, monitor_id: int, since: datetime) -> tuple[int, int]:
        """(checks that passed, checks) since ``since``, counted in the database."""


class UptimeChecker(abc.ABC):
    """Runs one check of a monitor from this checker's location."""

    region: str

    @abc.abstractmethod
    def check(self, monitor: UptimeMonitor) -> CheckResult: ...


class AlertRepository(abc.ABC):
    """Alerts (alert_history, monitoring's projection of its alert events) with their rules."""

    @abc.abstractmethod
    def get(self, alert_id: int, *, for_update: bool = False) -> Alert | None: ...

    @abc.abstractmethod
    def of_tenant(
        self, user_id: int, organization_id: int | None, *, status: str = "", alert_rule_id: int = 0
    ) -> list[Alert]:
        """The alerts of the user's own rules and of ``organization_id``'s, newest first."""

    @abc.abstractmethod
    def save_acknowledgement(self, alert: Alert) -> None: ...

    @abc.abstractmethod
    def delete_resolved_before(self, cutoff: datetime, limit: int) -> int:
        """Delete at most ``limit`` alerts resolved before ``cutoff``; how many."""


class MonitoredServerRepository(abc.ABC):
    """Monitoring's projection of compute's servers."""

    @abc.abstractmethod
    def get(self, server_id: int) -> MonitoredServer | None: ...

    @abc.abstractmethod
    def collectable(self) -> list[MonitoredServer]:
        """The servers that run now, by id."""

    @abc.abstractmethod
    def of_ids(self, server_ids: Sequence[int]) -> dict[int, MonitoredServer]:
        """The servers of ``server_ids`` monitoring knows (deleted ones too)."""


@dataclass(frozen=True)
class Bucket:
    """One step of a query: its start (Unix seconds) and the average of each column over it."""

    start: float
    averages: dict[str, Decimal | None]


@dataclass(frozen=True)
class Usage:
    """A server's average use over a window, in percent (None: no sample said)."""

    cpu: Decimal | None
    memory: Decimal | None


class TrafficRepository(abc.ABC):
    """traffic_hours: what the traffic meter recorded of each server's hours."""

    @abc.abstractmethod
    def metered(self, since: datetime) -> dict[tuple[int, datetime], MeteredHour]:
        """The hours from ``since`` on, locked until the commit."""

    @abc.abstractmethod
    def save(self, hours: Sequence[tuple[MeteredHour, MonitoredServer]], at: datetime) -> None:
        """Store what was recorded of ``hours`` (each with its server's owner), in one statement."""

    @abc.abstractmethod
    def recorded_since(self, since: datetime, server_ids: Sequence[int]) -> dict[int, Decimal]:
        """The GB recorded of each of ``server_ids``' hours from ``since`` on."""

    @abc.abstractmethod
    def forget_before(self, before: datetime) -> int:
        """Delete the hours before ``before`` (no pass reads them again); how many."""


class MetricsStore(abc.ABC):
    """server_metrics: its aggregates and its day partitions."""

    @abc.abstractmethod
    def aggregate(self, query: MetricsQuery) -> list[Bucket]:
        """The steps of ``query`` that have samples, oldest first, averaged in the database."""

    @abc.abstractmethod
    def outgoing_by_hour(self, since: datetime, until: datetime) -> list[HourTraffic]:
        """Every server's outgoing bytes per UTC hour of [since, until), from its stored samples."""

    @abc.abstractmethod
    def averages(self, since: datetime, until: datetime) -> dict[int, Usage]:
        """Every server with samples in [since, until): its average cpu and memory use."""

    @abc.abstractmethod
    def day_partitions(self) -> list[DayPartition]: ...

    @abc.abstractmethod
    def add_partitions(self, days: Sequence[DayPartition]) -> None:
        """Split ``days`` off the catch-all partition (they follow the last day partition)."""

    @abc.abstractmethod
    def drop_partition(self, day: DayPartition) -> int:
        """Drop the partition; the rows it held."""


@dataclass(frozen=True)
class UpstreamPoint:
    at: datetime
    value: str


class UpstreamMetrics(abc.ABC):
    """Upstream's (Hetzner's) metrics of a server."""

    @abc.abstractmethod
    def server_metrics(
        self, upstream_id: int, types: Sequence[str], start: datetime, end: datetime, step: int
    ) -> dict[str, list[UpstreamPoint]]:
        """Upstream's series by name (``cpu``, ``disk.0.iops.read``, ...) over [start, end].

        Raises :class:`UpstreamGone` when upstream no longer knows the server, and
        :class:`UpstreamUnavailable` when it does not answer."""

    @abc.abstractmethod
    def labelled_servers(self) -> dict[int, int]:
        """Platform server id → upstream id, from the ``cp_server_id`` label compute puts on every
        server it creates upstream (for servers whose events did not carry the upstream id).

        Raises :class:`UpstreamUnavailable` when upstream does not answer."""


class UpstreamGone(Exception):
    """Upstream does not know the server (deleted there)."""


class UpstreamUnavailable(Exception):
    """Upstream did not answer (after the adapter's retries)."""
