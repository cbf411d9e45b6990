"""Wires the monitoring service together, for every entrypoint: the engine, a fresh unit of work
per call, upstream's metrics (hcloud) and the collector built on them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from cpshared.db import make_engine, make_session_factory
from cpshared.errors import Unavailable
from monitoring_service.adapters.unit_of_work import SqlAlchemyMonitoringUnitOfWork
from monitoring_service.adapters.upstream import HcloudMetrics, read_token
from monitoring_service.adapters.uptime_checker import NetworkChecker
from monitoring_service.config import TrafficSettings
from monitoring_service.service_layer.collection import Collector, look_back
from monitoring_service.service_layer.ports import UpstreamMetrics, UptimeChecker
from monitoring_service.service_layer.traffic import TrafficMeter


class Monitoring:
    """What the entrypoints need. ``upstream`` makes the upstream client when the collector needs it."""

    def __init__(self, engine: Engine, *, upstream: Callable[[], UpstreamMetrics] | None = None) -> None:
        self.engine = engine
        self._upstream = upstream
        self._sessions = make_session_factory(engine)

    def uow(self) -> SqlAlchemyMonitoringUnitOfWork:
        return SqlAlchemyMonitoringUnitOfWork(self._sessions)

    def collector(self, interval_seconds: float = 60.0) -> Collector:
        """The collector for passes every ``interval_seconds`` (how far back each pass asks)."""
        if self._upstream is None:
            raise Unavailable("monitoring has no upstream: set CP_HCLOUD_ENDPOINT and CP_HCLOUD_TOKEN_FILE")
        return Collector(self.uow, self._upstream(), look_back=look_back(interval_seconds))

    def traffic_meter(self, settings: TrafficSettings) -> TrafficMeter:
        return TrafficMeter(
            self.uow,
            close_after=timedelta(seconds=settings.traffic_close_after_seconds),
            late_hours=settings.traffic_late_hours,
            summary_window=timedelta(seconds=settings.traffic_meter_interval_seconds),
        )

    def uptime_checker(self, region: str, *, ca_file: str = "") -> UptimeChecker:
        """The uptime checks run from this machine, as checker location ``region``."""
        return NetworkChecker(region, ca_file=ca_file)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    database_url: str,
    *,
    pool_size: int = 5,
    hcloud_endpoint: str = "",
    hcloud_token_file: str = "",
    engine: Engine | None = None,
) -> Monitoring:
    upstream = None
    if hcloud_endpoint:
        endpoint = hcloud_endpoint

        def upstream() -> UpstreamMetrics:
            return HcloudMetrics(endpoint, read_token(hcloud_token_file))

    return Monitoring(engine or make_engine(database_url, pool_size=pool_size), upstream=upstream)
