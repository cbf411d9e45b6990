"""A simulator on a loopback uvicorn (free port, own thread) and a real ``hcloud`` client for it.

Every JSON answer the client receives is checked against the spec (see ``spec.py``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import uvicorn
from hcloud import Client

from hetzner_sim.app import create_app
from hetzner_sim.common import Ctx
from hetzner_sim.state import ManualClock, SimConfig
from tests.unit.hetzner_sim import spec

TOKEN = "test-token"
OTHER_TOKEN = "other-token"


@dataclass
class Sim:
    url: str
    ctx: Ctx
    clock: ManualClock
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    def client(self, token: str = TOKEN, timeout: float | None = None) -> Client:
        client = Client(token=token, api_endpoint=f"{self.url}/v1", poll_interval=0.01, timeout=timeout)
        client._client._retry_interval_func = lambda retries: 0.01
        client._client._session.hooks["response"].append(self.check)
        return client

    def check(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not response.request.path_url.startswith("/v1"):
            return
        if not response.content or not response.headers.get("content-type", "").startswith("application/json"):
            return
        path = response.request.path_url.split("?")[0]
        method = str(response.request.method)
        spec.validate(method, path, response.status_code, response.json())
        self.checked.append((method, path, response.status_code))

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_sim/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json() if response.content else None

    def fault(self, **rule: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.control("POST", "faults", rule)["fault"]
        return answer

    def raw(self, method: str, path: str, token: str = TOKEN, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        timeout = kwargs.pop("timeout", 5)
        return requests.request(method, f"{self.url}/v1{path}", headers=headers, timeout=timeout, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def _server() -> Iterator[Sim]:
    clock = ManualClock()
    app = create_app(SimConfig(action_seconds=0), clock=clock, tokens=[TOKEN, OTHER_TOKEN])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.02)
    yield Sim(f"http://127.0.0.1:{port}", app.state.ctx, clock)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sim(_server: Sim) -> Sim:
    _server.control("POST", "reset")
    _server.control("PATCH", "config", {"action_seconds": 0})
    return _server


@pytest.fixture
def client(sim: Sim) -> Client:
    return sim.client()
