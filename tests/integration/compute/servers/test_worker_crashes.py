"""The provisioning worker SIGKILLed at many points of creates and deletes (while the simulator
delays its answers, so kills land between "upstream made it" and "we recorded it"), restarted
each time: at the end every live platform server has exactly one upstream server, deleted ones
have none, nothing upstream is unowned, and the quota counts the live servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from compute_service.domain.servers import DELETE, Locked
from compute_service.service_layer import servers
from tests.integration.compute.servers.conftest import Platform

LATENCY_SECONDS = 0.5
SWEEP_SECONDS = 0.5
KILL_AFTER = (0.05, 0.3, 0.55, 0.8, 1.1)
LOG: list[str] = []


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


@contextmanager
def worker(platform: Platform) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CP_SERVICE_NAME": "compute",
        "CP_METRICS_PORT": "0",
        "CP_LOG_LEVEL": "INFO",
        "CP_DATABASE_URL": platform.compute_url,
        "CP_HCLOUD_ENDPOINT": platform.sim.url,
        "CP_HCLOUD_TOKEN_FILE": platform.token_file,
        "CP_IDENTITY_GRPC_ADDR": platform.identity_address,
        "CP_PRINCIPAL_SERVICE_KEY_FILE": platform.service_key_file,
        "CP_WORKER_POLL_INTERVAL": "0.05",
        "CP_WORKER_SWEEP_INTERVAL": str(SWEEP_SECONDS),
        "CP_UPSTREAM_RETRY_INITIAL_SECONDS": "0.05",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "compute_service.entrypoints.worker"], env=env, stdout=subprocess.PIPE
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


def _killed_after(platform: Platform, seconds: float) -> None:
    """SIGKILL a freshly started worker ``seconds`` after it is ready."""
    with worker(platform) as process:
        time.sleep(seconds)
        assert process.poll() is None, "the worker died on its own"
        process.send_signal(signal.SIGKILL)


def _unrecorded_upstream(platform: Platform) -> bool:
    """An upstream server exists whose platform server has not recorded it yet."""
    with platform.compute.engine.connect() as conn:
        recorded = set(conn.execute(sa.text("SELECT hetzner_id FROM servers WHERE hetzner_id IS NOT NULL")).scalars())
    return any(server["id"] not in recorded for server in platform.sim.servers())


def _killed_between_upstream_and_record(platform: Platform) -> bool:
    """SIGKILL the worker the moment upstream has a server the platform has not recorded:
    the window a create must survive. False when the worker never got there (no create left)."""
    with worker(platform) as process:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _unrecorded_upstream(platform):
                process.send_signal(signal.SIGKILL)
                return True
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        return False


def _running_actions(platform: Platform) -> int:
    with platform.compute.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM actions WHERE status = 'running'")).scalar_one())


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _consistent(platform: Platform) -> bool:
    with platform.compute.engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT id, hetzner_id, deleted_at FROM servers")))
    live = {row.id: row.hetzner_id for row in rows if row.deleted_at is None}
    upstream: dict[int, list[int]] = {}
    for server in platform.sim.servers():
        owner = int(server["labels"]["cp_server_id"])
        upstream.setdefault(owner, []).append(server["id"])
    return all(upstream.get(sid) == [hid] for sid, hid in live.items()) and set(upstream) == set(live)


def _run_to_completion(platform: Platform) -> None:
    with worker(platform):
        _wait_until(lambda: _running_actions(platform) == 0, 60, "every action has finished")
        # A create sent by a killed worker may land upstream after its successor made the server:
        # the sweep ends such strays.
        _wait_until(lambda: _consistent(platform), 30, "upstream matches the platform")


def test_a_worker_killed_anywhere_in_creates_and_deletes_leaves_one_upstream_server_per_live_server(
    platform: Platform,
) -> None:
    platform.set_server_limit(20)
    for path in ("/v1/servers", "/v1/servers/*"):
        platform.sim.fault(method="*", path=path, kind="latency", seconds=LATENCY_SECONDS)
    first = [
        servers.create(
            servers.NewServer(
                user_id=platform.user_id,
                organization_id=None,
                name=f"crash-{n}",
                server_type="cx22",
                image="ubuntu-24.04",
                datacenter="fsn1",
            ),
            platform.compute.quotas,
            platform.compute.uow(),
        )[0]
        for n in range(5)
    ]
    windows_hit = sum(_killed_between_upstream_and_record(platform) for _ in range(3))
    for seconds in KILL_AFTER:
        _killed_after(platform, seconds)
    _run_to_completion(platform)

    doomed = first[:3]
    for server in doomed:
        servers.start_action(server.id, DELETE, _anyone, platform.compute.uow())
    later = [
        servers.create(
            servers.NewServer(
                user_id=platform.user_id,
                organization_id=None,
                name=f"later-{n}",
                server_type="cx22",
                image="ubuntu-24.04",
                datacenter="fsn1",
            ),
            platform.compute.quotas,
            platform.compute.uow(),
        )[0]
        for n in range(2)
    ]
    windows_hit += sum(_killed_between_upstream_and_record(platform) for _ in range(2))
    for seconds in KILL_AFTER:
        _killed_after(platform, seconds)
    _run_to_completion(platform)
    assert windows_hit >= 3, "the worker was never killed between creating upstream and recording it"
    adopted = [line for line in LOG if "action_claimed" in line]
    assert len(adopted) > 7 + 3, "killed workers left actions that their successors claimed again"

    live = [s.id for s in first[3:] + later]
    for server_id in live:
        found = servers.get(server_id, _anyone, platform.compute.uow())
        assert found.status == "running" and not found.locked
        assert [s["id"] for s in platform.sim.labelled(server_id)] == [found.hetzner_id]
    for server in doomed:
        assert platform.sim.labelled(server.id) == []
    assert len(platform.sim.servers()) == len(live)
    assert platform.server_usage() == len(live)
    try:
        servers.start_action(live[0], DELETE, _anyone, platform.compute.uow())
    except Locked:  # pragma: no cover - every action has finished
        raise AssertionError("a server stayed locked") from None
