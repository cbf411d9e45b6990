"""Storage's worker SIGKILLed at many points of creates, resizes and deletes (while upstream's
actions answer slowly, so kills land between "upstream made it" and "we recorded it"), restarted
each time: at the end every live volume has exactly one upstream volume of its size, deleted ones
have none, nothing upstream is unowned, and identity's quotas count the live volumes and GB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain.model import QuotaOwner
from storage_service.service_layer import volumes
from tests.integration.gateway.test_servers_api import _token
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform

KILL_AFTER = (0.05, 0.25, 0.5, 0.8)
LOG: list[str] = []


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_wc_id") as identity_url,
        mariadb.scratch_database("cp_test_wc_gw") as gateway_url,
        mariadb.scratch_database("cp_test_wc_cp") as compute_url,
        mariadb.scratch_database("cp_test_wc_st") as storage_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, storage_url=storage_url) as live:
            yield live


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


@contextmanager
def worker(platform: LivePlatform) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "INFO",
        "CP_WORKER_POLL_INTERVAL": "0.05",
        "CP_WORKER_SWEEP_INTERVAL": "0.5",
        "CP_UPSTREAM_RETRY_INITIAL_SECONDS": "0.05",
        "CP_METERING_INTERVAL": "3600",
        **platform.storage_worker_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "storage_service.entrypoints.worker"], env=env, stdout=subprocess.PIPE
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in process.stdout or ()), daemon=True)
    reader.start()
    try:
        _wait_until(lambda: any("worker_started" in line for line in lines), 30, "the worker has started")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)
        LOG.extend(lines)


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _upstream(platform: LivePlatform) -> list[dict[str, Any]]:
    assert platform.simulator is not None
    answer = httpx.get(
        f"{platform.simulator}/volumes",
        params={"per_page": 50},
        headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return list(answer.json()["volumes"])


def _rows(platform: LivePlatform) -> list[Any]:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id, hetzner_id, size_gb, deleted_at, status FROM volumes")))


def _running(platform: LivePlatform) -> int:
    assert platform.storage is not None
    with platform.storage.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM actions WHERE status = 'running'")).scalar_one())


def _unrecorded_upstream(platform: LivePlatform) -> bool:
    recorded = {row.hetzner_id for row in _rows(platform)}
    return any(volume["id"] not in recorded for volume in _upstream(platform))


def _kill_cycles(platform: LivePlatform) -> int:
    """Workers killed after a while, or the moment upstream has a volume not recorded yet; how
    many were killed in that window."""
    in_window = 0
    for seconds in KILL_AFTER:
        with worker(platform) as process:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if _unrecorded_upstream(platform):
                    in_window += 1
                    break
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
    return in_window


def _to_completion(platform: LivePlatform) -> None:
    with worker(platform):
        _wait_until(lambda: _running(platform) == 0, 60, "every action has finished")
        time.sleep(1.2)  # a sweep or two after the last action


def test_a_worker_killed_anywhere_makes_no_second_volume_and_leaks_none(platform: LivePlatform) -> None:
    assert platform.storage is not None and platform.simulator is not None
    storage = platform.storage
    _token(platform, "crashes@example.com")
    with platform.identity.uow() as uow:
        user = uow.users.by_email("crashes@example.com")
    assert user is not None
    control = platform.simulator.removesuffix("/v1")
    # Upstream's actions answer slowly: a kill lands while the worker waits on one.
    httpx.post(
        f"{control}/_sim/faults", json={"method": "GET", "path": "/v1/actions/*", "kind": "latency", "seconds": 0.2}
    ).raise_for_status()
    try:
        made = [
            volumes.create(
                volumes.CreateVolume(user_id=user.id, organization_id=None, name=f"c-{n}", size_gb=10, location="fsn1"),
                storage.uow(),
                storage.servers,
                storage.quotas,
            ).volume.id
            for n in range(5)
        ]
        assert _kill_cycles(platform) > 0, "no kill landed between upstream's create and its record"
        _to_completion(platform)
        for volume_id in made[:2]:
            volumes.resize(volume_id, 25, _anyone, storage.uow(), storage.quotas)
        for volume_id in made[2:4]:
            volumes.delete(volume_id, _anyone, storage.uow())
        _kill_cycles(platform)
        _to_completion(platform)
    finally:
        httpx.delete(f"{control}/_sim/faults").raise_for_status()

    rows = _rows(platform)
    live = {row.id: (row.hetzner_id, row.size_gb) for row in rows if row.deleted_at is None}
    assert sorted(live) == [made[0], made[1], made[4]], "\n".join(LOG[-40:])
    upstream: dict[int, list[tuple[int, int]]] = {}
    for volume in _upstream(platform):
        upstream.setdefault(int(volume["labels"]["cp_volume_id"]), []).append((volume["id"], volume["size"]))
    assert upstream == {volume_id: [found] for volume_id, found in live.items()}
    assert [live[v][1] for v in (made[0], made[1], made[4])] == [25, 25, 10]
    with platform.identity.uow() as uow:
        count = uow.quotas.get(QuotaOwner(user_id=user.id), "volume")
        gb = uow.quotas.get(QuotaOwner(user_id=user.id), "volume_gb")
    assert count is not None and int(count.current_usage) == 3
    assert gb is not None and int(gb.current_usage) == 60
