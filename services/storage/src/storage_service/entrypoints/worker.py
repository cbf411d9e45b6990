"""The storage worker: carries running volume actions out upstream (one at a time, each in its
own transaction; see service_layer/provisioning.py), sweeps upstream for stray volumes, meters
volumes by the hour in a thread of its own (service_layer/metering.py), and mirrors servers'
backups from upstream in another (service_layer/backups.py)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from cpshared.errors import DomainError
from cpshared.logging import get_logger
from cpshared.process import start_process
from cpshared.runtime import open_migrated_database
from cpshared.settings import load_settings
from cpshared.upstream import RetryPolicy
from storage_service import SERVICE_NAME
from storage_service.bootstrap import Storage, bootstrap
from storage_service.config import WorkerSettings
from storage_service.service_layer.provisioning import DEFERRED, Provisioner

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MAX_DEFER_SECONDS = 60.0
log = get_logger(__name__)

ACTIONS = Counter("storage_worker_actions_total", "Actions the worker finished or deferred", ["command", "status"])
SWEPT = Counter("storage_worker_stray_volumes_deleted_total", "Stray upstream volumes the sweep deleted")


def run(provisioner: Provisioner, settings: WorkerSettings, stop: threading.Event) -> None:
    deferred: dict[int, tuple[float, int]] = {}  # action id → (not before, times deferred)
    next_sweep = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        skip = [action_id for action_id, (not_before, _) in deferred.items() if not_before > now]
        try:
            outcome = provisioner.run_once(skip)
            if outcome is not None:
                ACTIONS.labels(outcome.command, outcome.status).inc()
                if outcome.status == DEFERRED:
                    times = deferred.get(outcome.action_id, (0.0, 0))[1] + 1
                    pause = min(settings.upstream_retry_initial_seconds * 2**times, MAX_DEFER_SECONDS)
                    deferred[outcome.action_id] = (time.monotonic() + pause, times)
                else:
                    deferred.pop(outcome.action_id, None)
            if time.monotonic() >= next_sweep:
                SWEPT.inc(len(provisioner.sweep()))
                next_sweep = time.monotonic() + settings.worker_sweep_interval
        except (DomainError, sa_exc.OperationalError) as exc:
            log.warning("worker_round_failed", error=str(exc))
            outcome = None
        if outcome is None:
            stop.wait(settings.worker_poll_interval)


def meter_until_stopped(storage: Storage, interval: float, stop: threading.Event) -> None:
    """Metering passes every ``interval`` seconds until ``stop``: every volume hour that has ended
    is recorded (a pass that cannot reach billing records nothing and is tried again)."""
    while not stop.is_set():
        try:
            done = storage.meter().run(should_stop=stop.is_set)
            if done.hours:
                log.info("volumes_metered", volumes=done.volumes, hours=done.hours)
        except (DomainError, sa_exc.OperationalError) as exc:
            log.warning("metering_pass_failed", error=str(exc))
        stop.wait(interval)


def mirror_backups_until_stopped(storage: Storage, interval: float, stop: threading.Event) -> None:
    """Backup passes every ``interval`` seconds until ``stop`` (service_layer/backups.py)."""
    while not stop.is_set():
        try:
            done = storage.mirror_backups()
            if done.created or done.expired or done.deleted:
                log.info("backups_mirrored", created=done.created, expired=done.expired, deleted=done.deleted)
        except (DomainError, sa_exc.OperationalError) as exc:
            log.warning("backup_pass_failed", error=str(exc))
        stop.wait(interval)


def main() -> None:
    settings = load_settings(WorkerSettings)
    start_process(SERVICE_NAME, settings)
    storage = bootstrap(
        settings.database_url,
        hcloud_endpoint=settings.hcloud_endpoint,
        hcloud_token_file=settings.hcloud_token_file,
        identity_grpc_addr=settings.identity_grpc_addr,
        compute_grpc_addr=settings.compute_grpc_addr,
        billing_grpc_addr=settings.billing_grpc_addr,
        service_key_file=settings.principal_service_key_file,
        worker_retry=RetryPolicy(
            attempts=settings.upstream_retry_attempts, initial_seconds=settings.upstream_retry_initial_seconds
        ),
        engine=open_migrated_database(SERVICE_NAME, settings, MIGRATIONS),
    )
    provisioner = storage.provisioner()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("worker_stopping", signal=signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info("worker_started", upstream=settings.hcloud_endpoint)
    metering = threading.Thread(
        target=meter_until_stopped, args=(storage, settings.metering_interval, stop), name="metering", daemon=True
    )
    metering.start()
    mirror = threading.Thread(
        target=mirror_backups_until_stopped,
        args=(storage, settings.backup_mirror_interval, stop),
        name="backups",
        daemon=True,
    )
    mirror.start()
    try:
        run(provisioner, settings, stop)
    finally:
        stop.set()
        metering.join(30)
        mirror.join(30)
        storage.close()


if __name__ == "__main__":
    main()
