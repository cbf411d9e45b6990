"""The monitoring service's gRPC server process: MonitoringService (stored metrics, retention),
AlertRuleService (tenants' alert rules), AlertService, UptimeMonitorService (tenants' uptime
monitors, their results and uptime) and the retention keeper (entrypoints/retention_keeper.py)
in a thread beside it."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service
from monitoring_service import SERVICE_NAME, __version__
from monitoring_service.bootstrap import Monitoring, bootstrap
from monitoring_service.config import RetentionSettings, Settings, UptimeSettings
from monitoring_service.entrypoints import retention_keeper
from monitoring_service.entrypoints.alert_rule_servicer import add_alert_rule_servicer
from monitoring_service.entrypoints.alert_servicer import add_alert_servicer
from monitoring_service.entrypoints.grpc_servicer import add_monitoring_servicer
from monitoring_service.entrypoints.uptime_servicer import add_uptime_servicer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    monitoring = bootstrap(settings.database_url, pool_size=settings.database_pool_size)
    retention_keeper.start(monitoring, settings)
    return lambda server: add_servicers(server, monitoring, settings, settings)


def add_servicers(
    server: aio.Server, monitoring: Monitoring, retention: RetentionSettings, uptime: UptimeSettings | None = None
) -> list[str]:
    """Every gRPC service monitoring answers, on ``server``; their full names."""
    regions = (uptime or UptimeSettings()).regions
    return (
        add_monitoring_servicer(server, monitoring, retention)
        + add_alert_rule_servicer(server, monitoring)
        + add_alert_servicer(server, monitoring)
        + add_uptime_servicer(server, monitoring, regions)
    )


def main() -> None:
    run_grpc_service(
        service=SERVICE_NAME,
        version=__version__,
        migrations_dir=MIGRATIONS,
        settings_cls=Settings,
        register=register,
    )


if __name__ == "__main__":
    main()
