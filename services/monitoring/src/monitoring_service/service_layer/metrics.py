"""Answering a server's metrics from the stored samples: the query checked by the domain, the
server's owner checked by the caller's reach, the aggregation done by the store (in SQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cpshared.errors import NotFound
from monitoring_service.domain.metrics import MetricsQuery, format_value
from monitoring_service.service_layer.unit_of_work import MonitoringUnitOfWork

Reach = Callable[[int, int | None], None]
"""Raises NotFound unless the caller reaches a resource of (user id, organization id)."""


@dataclass(frozen=True)
class MetricsAnswer:
    """Hetzner's metrics object: the period, the step and the series by name."""

    start: datetime
    end: datetime
    step: int
    time_series: dict[str, list[tuple[float, str]]]


def server_metrics(
    server_id: int,
    types: list[str],
    start: datetime,
    end: datetime,
    step: int,
    reach: Reach,
    uow: MonitoringUnitOfWork,
) -> MetricsAnswer:
    query = MetricsQuery.of(server_id, types, start, end, step)
    with uow:
        server = uow.servers.get(server_id)
        if server is None or server.deleted:
            raise NotFound(f"server {server_id} does not exist")
        reach(server.user_id, server.organization_id)
        buckets = uow.metrics.aggregate(query)
    series: dict[str, list[tuple[float, str]]] = {column.series: [] for column in query.columns}
    for bucket in buckets:
        for column in query.columns:
            value = bucket.averages.get(column.name)
            if value is not None:
                series[column.series].append((bucket.start, format_value(column.served(value))))
    return MetricsAnswer(query.start, query.end, query.step, series)
