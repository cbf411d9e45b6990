"""The monitoring worker: ``python -m monitoring_service.entrypoints.collector``: the metrics
collector, and the uptime checker in a thread beside it.

Every CP_COLLECT_INTERVAL_SECONDS it reads upstream's metrics (hcloud) of every server that runs
(monitoring's projection of compute's events) and writes each sample as a ``metric.sampled``
record to monitoring's outbox (service_layer/collection.py); the relay publishes them to
monitoring.metrics and the consumer stores them. A sample's id is a function of its server and
instant, so a pass repeated after a crash adds nothing twice. Every
CP_TRAFFIC_METER_INTERVAL_SECONDS it also runs the traffic meter (service_layer/traffic.py: the
closed hours' outgoing traffic as ``usage.recorded`` for billing, each active server's
``metric.summarized`` for compute), one process at a time (a named lock). SIGTERM or SIGINT stop
it after the pass in hand.

The uptime checker looks every CP_UPTIME_PASS_SECONDS for the monitors of its location
(CP_UPTIME_REGION) whose next check is due, runs each check from here, and writes the result,
the monitor's state and its ``uptime_monitor.down`` / ``up`` events in one transaction
(service_layer/uptime.py).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from cpshared.clock import utcnow
from cpshared.db import database_lock
from cpshared.errors import DomainError
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.runtime import open_migrated_database
from cpshared.settings import load_settings
from monitoring_service import SERVICE_NAME
from monitoring_service.bootstrap import Monitoring, bootstrap
from monitoring_service.config import CollectorSettings
from monitoring_service.service_layer import uptime
from monitoring_service.service_layer.collection import Collector
from monitoring_service.service_layer.ports import UptimeChecker
from monitoring_service.service_layer.traffic import TrafficMeter
from monitoring_service.service_layer.unit_of_work import UnitOfWorkFactory

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = get_logger(__name__)

SAMPLES = Counter("monitoring_collector_samples_total", "Samples the collector wrote to the outbox")
REPEATED = Counter("monitoring_collector_samples_repeated_total", "Samples found written already (nothing added)")
FAILED = Counter("monitoring_collector_servers_failed_total", "Servers whose metrics upstream did not answer")
PASSES_FAILED = Counter("monitoring_collector_passes_failed_total", "Collection passes ended by an error")
UPTIME_CHECKS = Counter("monitoring_uptime_checks_total", "Uptime checks run and recorded")
UPTIME_CHANGES = Counter("monitoring_uptime_status_changes_total", "Uptime monitors gone down or up", ["status"])
UPTIME_PASSES_FAILED = Counter("monitoring_uptime_passes_failed_total", "Uptime passes ended by an error")


def collection_pass(collector: Collector) -> None:
    try:
        report = collector.collect(utcnow())
    except (DomainError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        PASSES_FAILED.inc()
        log.warning("collection_pass_failed", error=str(exc)[:300])
        return
    SAMPLES.inc(report.samples)
    REPEATED.inc(report.repeated)
    FAILED.inc(report.failed)
    log.info("collection_pass", servers=report.servers, samples=report.samples, failed=report.failed)


TRAFFIC_RECORDED = Counter("monitoring_traffic_usage_recorded_total", "usage.recorded of outgoing traffic written")
TRAFFIC_LATE = Counter("monitoring_traffic_late_revisions_total", "Of those, revisions of hours raised by late samples")
TRAFFIC_GB = Counter("monitoring_traffic_recorded_gigabytes_total", "Outgoing traffic recorded for billing, GB")
SUMMARIES = Counter("monitoring_usage_summaries_total", "metric.summarized written (one per active server and pass)")
METER_FAILED = Counter("monitoring_traffic_meter_passes_failed_total", "Traffic meter passes ended by an error")
METER_LOCK = "traffic_meter"


def meter_pass(monitoring: Monitoring, meter: TrafficMeter) -> None:
    """One traffic meter pass, if no other process runs one (a named lock on monitoring's database)."""
    try:
        with database_lock(monitoring.engine, METER_LOCK) as held:
            if not held:
                log.info("traffic_meter_skipped", reason="lock held")
                return
            report = meter.meter(utcnow())
    except (DomainError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        METER_FAILED.inc()
        log.warning("traffic_meter_failed", error=str(exc)[:300])
        return
    TRAFFIC_RECORDED.inc(report.recorded)
    TRAFFIC_LATE.inc(report.late)
    TRAFFIC_GB.inc(float(report.gigabytes))
    SUMMARIES.inc(report.summaries)
    log.info(
        "traffic_meter_pass",
        recorded=report.recorded,
        late=report.late,
        gigabytes=str(report.gigabytes),
        summaries=report.summaries,
        unknown_servers=report.unknown_servers,
    )


def uptime_pass(checker: UptimeChecker, failures_to_down: int, uow: UnitOfWorkFactory) -> None:
    try:
        report = uptime.check_due(checker, failures_to_down, uow())
    except (DomainError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        UPTIME_PASSES_FAILED.inc()
        log.warning("uptime_pass_failed", error=str(exc)[:300])
        return
    UPTIME_CHECKS.inc(report.checked)
    UPTIME_CHANGES.labels("down").inc(report.down)
    UPTIME_CHANGES.labels("up").inc(report.up)
    if report.checked:
        log.info("uptime_pass", checked=report.checked, down=report.down, up=report.up)


def run_uptime_checker(
    checker: UptimeChecker, failures_to_down: int, uow: UnitOfWorkFactory, every: float, stop: threading.Event
) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            uptime_pass(checker, failures_to_down, uow)
            stop.wait(every)

    thread = threading.Thread(target=loop, name="uptime-checker", daemon=True)
    thread.start()
    return thread


def main() -> None:
    settings = load_settings(CollectorSettings)
    start_process(SERVICE_NAME, settings)
    monitoring = bootstrap(
        settings.database_url,
        hcloud_endpoint=settings.hcloud_endpoint,
        hcloud_token_file=settings.hcloud_token_file,
        engine=open_migrated_database(SERVICE_NAME, settings, MIGRATIONS),
    )
    collector = monitoring.collector(settings.collect_interval_seconds)
    meter = monitoring.traffic_meter(settings)
    metered_at = 0.0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("collector_stopping", signal=signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info("collector_started", upstream=settings.hcloud_endpoint, interval=settings.collect_interval_seconds)
    checker = monitoring.uptime_checker(settings.uptime_region, ca_file=settings.uptime_ca_file)
    checking = run_uptime_checker(
        checker, settings.uptime_failures_to_down, monitoring.uow, settings.uptime_pass_seconds, stop
    )
    log.info("uptime_checker_started", region=settings.uptime_region, every=settings.uptime_pass_seconds)
    try:
        while not stop.is_set():
            collection_pass(collector)
            if time.monotonic() - metered_at >= settings.traffic_meter_interval_seconds:
                metered_at = time.monotonic()
                meter_pass(monitoring, meter)
            stop.wait(settings.collect_interval_seconds)
    finally:
        checking.join(60)
        monitoring.close()


if __name__ == "__main__":
    main()
