"""A scratch database migrated with the gateway's migrations, and the gateway served on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.types import ASGIApp

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.clock import ManualClock
from cpshared.db import make_engine
from cpshared.migrations import migrations_dir, upgrade
from gateway_service.entrypoints.http_server import server_config

# A scratch identity database and the identity service on it, for tests that need identity.
from tests.integration.identity.conftest import identity, identity_url  # noqa: F401


@pytest.fixture
def gateway_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_gw") as url:
        upgrade("gateway", migrations_dir("gateway"), url)
        yield url


@pytest.fixture
def engine(gateway_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(gateway_url, pool_size=10)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: ASGIApp, *, trusted_proxies: str = "") -> Iterator[str]:
    """Run ``app`` under a real uvicorn on a loopback port for the test; yields its base URL.
    With ``trusted_proxies`` (e.g. ``127.0.0.1``) the test's X-Forwarded-For names the client."""
    port = _free_port()
    # Served as the gateway's process serves it (no server banner, its timeouts).
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, trusted_proxies=trusted_proxies))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
