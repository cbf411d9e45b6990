"""Network's worker: ``python -m network_service.entrypoints.worker``.

It carries out the running actions of network's actions table upstream, one at a time per
worker (several workers share the table: each claims with FOR UPDATE SKIP LOCKED), and sweeps
upstream for stray floating IPs, networks, firewalls and load balancers every
CP_WORKER_SWEEP_INTERVAL seconds; every CP_METERING_INTERVAL seconds it records the floating IP
and load balancer hours that have ended (service_layer/metering.py); when idle it brings unsynced
firewalls and load balancers in line upstream and reads load balancers' health. An action whose
upstream stays unavailable is left running and retried later with a growing pause. SIGTERM or
SIGINT stop it after the action in hand; SIGKILL at any moment loses nothing (see
service_layer/provisioning.py).
"""

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
from network_service import SERVICE_NAME
from network_service.bootstrap import bootstrap
from network_service.config import WorkerSettings
from network_service.service_layer.metering import Meter
from network_service.service_layer.provisioning import DEFERRED, Provisioner

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MAX_DEFER_SECONDS = 60.0
log = get_logger(__name__)

ACTIONS = Counter(
    "network_worker_actions_total", "Actions network's worker finished or deferred", ["command", "status"]
)
METERED = Counter(
    "network_worker_usage_hours_total", "Floating IP and load balancer hours metering recorded (usage.recorded)"
)
RECONCILED = Counter("network_worker_firewalls_synced_total", "Firewalls the worker brought in line upstream")
RECONCILE_SECONDS = 2.0
"""How often, at most, the idle worker brings unsynced firewalls in line upstream (one whose
server compute has not made upstream yet stays unsynced: it is looked at again then)."""
SWEPT = Counter("network_worker_stray_floating_ips_deleted_total", "Stray upstream floating IPs the sweep deleted")


def run(provisioner: Provisioner, settings: WorkerSettings, stop: threading.Event, meter: Meter | None = None) -> None:
    deferred: dict[int, tuple[float, int]] = {}  # action id → (not before, times deferred)
    next_sweep = time.monotonic() + settings.worker_sweep_interval
    next_metering = time.monotonic()
    next_reconcile = time.monotonic()
    while not stop.is_set():
        if meter is not None and time.monotonic() >= next_metering:
            next_metering = time.monotonic() + settings.metering_interval
            try:
                METERED.inc(meter.run().hours)
            except (DomainError, sa_exc.OperationalError) as exc:
                log.warning("metering_round_failed", error=str(exc))
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
            if outcome is None and time.monotonic() >= next_reconcile:
                RECONCILED.inc(len(provisioner.reconcile()))
                next_reconcile = time.monotonic() + RECONCILE_SECONDS
        except (DomainError, sa_exc.OperationalError) as exc:
            log.warning("worker_round_failed", error=str(exc))
            outcome = None
        if outcome is None:
            stop.wait(settings.worker_poll_interval)


def main() -> None:
    settings = load_settings(WorkerSettings)
    start_process(SERVICE_NAME, settings)
    network = bootstrap(
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
    provisioner = network.provisioner()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("worker_stopping", signal=signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info("worker_started", upstream=settings.hcloud_endpoint)
    try:
        run(provisioner, settings, stop, network.meter())
    finally:
        stop.set()
        network.close()


if __name__ == "__main__":
    main()
