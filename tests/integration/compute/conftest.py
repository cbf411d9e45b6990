"""The compute service on a scratch database, and a Hetzner simulator on a loopback port for
its catalog sync (the real hcloud client talks to it over HTTP)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream import HcloudCatalog
from compute_service.bootstrap import Compute
from cpshared.db import make_engine
from cpshared.migrations import migrations_dir, upgrade
from hetzner_sim.app import create_app
from hetzner_sim.state import ManualClock, SimConfig

SIM_TOKEN = "compute-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def simulator() -> Iterator[str]:
    """Base URL (with /v1) of a Hetzner simulator served by uvicorn in a thread."""
    app = create_app(SimConfig(action_seconds=0), clock=ManualClock(), tokens=[SIM_TOKEN])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "hcloud-token"
    path.write_text(SIM_TOKEN + "\n")
    return str(path)


@pytest.fixture
def compute_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_compute") as url:
        upgrade("compute", migrations_dir("compute"), url)
        yield url


@pytest.fixture
def compute(compute_url: str, simulator: str, token_file: str) -> Iterator[Compute]:
    service = Compute(make_engine(compute_url, pool_size=5), lambda: HcloudCatalog.from_settings(simulator, token_file))
    try:
        yield service
    finally:
        service.close()
