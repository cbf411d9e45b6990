"""The catalog keeper: a compute that starts before upstream answers gets its catalog once
upstream is up (retried with backoff), and keeps it refreshed."""

from __future__ import annotations

import threading
import time

import uvicorn

from compute_service.adapters.upstream import HcloudCatalog
from compute_service.bootstrap import Compute
from compute_service.entrypoints import catalog_keeper
from compute_service.service_layer import catalog
from cpshared.db import make_engine
from hetzner_sim.app import create_app
from hetzner_sim.state import ManualClock, SimConfig
from tests.integration.compute.conftest import SIM_TOKEN, _free_port


def _server_types(compute: Compute) -> list[str]:
    return [st.code for st in catalog.list_server_types(compute.uow())]


def test_a_compute_started_before_upstream_gets_its_catalog_once_upstream_answers(
    compute_url: str, token_file: str
) -> None:
    port = _free_port()  # nothing listens there yet: upstream is "still starting"
    compute = Compute(
        make_engine(compute_url, pool_size=2),
        lambda: HcloudCatalog.from_settings(f"http://127.0.0.1:{port}/v1", token_file),
    )
    stop = catalog_keeper.start(compute, retry_seconds=0.05, refresh_seconds=30.0)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        assert _server_types(compute) == []  # the first sync failed and the keeper carries on
        app = create_app(SimConfig(action_seconds=0), clock=ManualClock(), tokens=[SIM_TOKEN])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not _server_types(compute):
            assert time.monotonic() < deadline, "the keeper never synced the catalog once upstream answered"
            time.sleep(0.1)
        assert "cx22" in _server_types(compute)
    finally:
        stop.set()
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)
        compute.close()


def test_the_keeper_stops_when_told(compute: Compute) -> None:
    stop = catalog_keeper.start(compute, retry_seconds=0.05, refresh_seconds=0.05)
    assert "cx22" in _server_types(compute)  # synced at start
    stop.set()
    time.sleep(0.2)
    assert not any(t.name == "catalog-keeper" and t.is_alive() for t in threading.enumerate())
