"""The metrics collector worker: ``python -m monitoring_service.entrypoints.collector``.

Every CP_COLLECT_INTERVAL_SECONDS it reads upstream's metrics (hcloud) of every server that runs
(monitoring's projection of compute's events) and writes each sample as a ``metric.sampled``
record to monitoring's outbox (service_layer/collection.py); the relay publishes them to
monitoring.metrics and the consumer stores them. A sample's id is a function of its server and
instant, so a pass repeated after a crash adds nothing twice. SIGTERM or SIGINT stop it after
the pass in hand.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from cpshared.clock import utcnow
from cpshared.errors import DomainError
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.runtime import open_migrated_database
from cpshared.settings import load_settings
from monitoring_service import SERVICE_NAME
from monitoring_service.bootstrap import bootstrap
from monitoring_service.config import CollectorSettings
from monitoring_service.service_layer.collection import Collector

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = get_logger(__name__)

SAMPLES = Counter("monitoring_collector_samples_total", "Samples the collector wrote to the outbox")
REPEATED = Counter("monitoring_collector_samples_repeated_total", "Samples found written already (nothing added)")
FAILED = Counter("monitoring_collector_servers_failed_total", "Servers whose metrics upstream did not answer")
PASSES_FAILED = Counter("monitoring_collector_passes_failed_total", "Collection passes ended by an error")


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
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("collector_stopping", signal=signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info("collector_started", upstream=settings.hcloud_endpoint, interval=settings.collect_interval_seconds)
    try:
        while not stop.is_set():
            collection_pass(collector)
            stop.wait(settings.collect_interval_seconds)
    finally:
        monitoring.close()


if __name__ == "__main__":
    main()
