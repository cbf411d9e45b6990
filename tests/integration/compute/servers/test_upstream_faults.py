"""The worker against an upstream that rate-limits and times out (the simulator's fault rules):
a 429 with RateLimit headers, a request that hangs past the client's timeout, and a request
served only after the client gave up are retried with backoff, and the create still ends with
the server running and exactly one upstream server carrying its platform id."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.service_layer import servers
from compute_service.service_layer.provisioning import Provisioner
from tests.integration.compute.conftest import SIM_TOKEN
from tests.integration.compute.servers.conftest import Platform

CLIENT_TIMEOUT = 0.5


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def _create(platform: Platform, name: str) -> int:
    new = servers.NewServer(
        user_id=platform.user_id,
        organization_id=None,
        name=name,
        server_type="cx22",
        image="ubuntu-24.04",
        datacenter="fsn1",
        labels={},
    )
    server, _ = servers.create(new, platform.compute.quotas, platform.compute.uow())
    return int(server.id)


def _impatient(platform: Platform) -> Provisioner:
    """A worker whose upstream client gives up after CLIENT_TIMEOUT seconds."""
    upstream = HcloudServers(
        platform.sim.url,
        Path(platform.token_file).read_text().strip(),
        timeout=CLIENT_TIMEOUT,
        retry=RetryPolicy(attempts=6, initial_seconds=0.05, max_seconds=0.5),
    )
    return Provisioner(platform.compute.uow, upstream, platform.compute.quotas)


def _fired(platform: Platform) -> list[int]:
    answer = httpx.get(f"{platform.sim.control}/_sim/faults", timeout=5)
    answer.raise_for_status()
    body: Any = answer.json()
    rules = body["faults"] if isinstance(body, dict) else body
    return [int(rule["fired"]) for rule in rules]


def _provisioned_once(platform: Platform, provisioner: Provisioner, server_id: int) -> None:
    outcome = provisioner.run_once()
    assert outcome is not None and outcome.status == "success"
    running = servers.get(server_id, _anyone, platform.compute.uow())
    assert running.status == "running"
    assert [s["id"] for s in platform.sim.labelled(server_id)] == [running.hetzner_id]


def test_an_upstream_429_with_ratelimit_headers_is_retried_and_the_create_succeeds(platform: Platform) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="rate_limit", times=3)
    # What the worker will meet: Hetzner's 429 with the RateLimit headers (this takes one firing).
    answer = httpx.post(f"{platform.sim.url}/servers", headers={"Authorization": f"Bearer {SIM_TOKEN}"}, json={})
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert answer.headers["RateLimit-Remaining"] == "0" and "RateLimit-Reset" in answer.headers
    assert platform.sim.servers() == []
    server_id = _create(platform, "limited")
    _provisioned_once(platform, platform.provisioner(), server_id)
    assert _fired(platform) == [3], "both 429s reached the worker, which tried again"


def test_an_upstream_request_hanging_past_the_client_timeout_is_retried_and_the_create_succeeds(
    platform: Platform,
) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="timeout", seconds=CLIENT_TIMEOUT * 3, times=2)
    server_id = _create(platform, "hanging")
    _provisioned_once(platform, _impatient(platform), server_id)
    assert _fired(platform) == [2]


def test_a_slow_action_read_past_the_client_timeout_is_retried(platform: Platform) -> None:
    platform.sim.fault(method="GET", path="/v1/actions/*", kind="latency", seconds=CLIENT_TIMEOUT * 3, times=2)
    server_id = _create(platform, "slow-action")
    _provisioned_once(platform, _impatient(platform), server_id)
    assert _fired(platform) == [2]


def test_a_create_slower_than_the_client_timeout_is_retried_and_leaves_one_upstream_server(
    platform: Platform,
) -> None:
    # The first POST is held past the client's timeout; the worker gives up on it, looks for the
    # server by label and creates it. Whatever becomes of the abandoned request, once its delay
    # is over (and the sweep has run) upstream holds exactly the one server the platform recorded.
    platform.sim.fault(method="POST", path="/v1/servers", kind="latency", seconds=CLIENT_TIMEOUT * 3, times=1)
    server_id = _create(platform, "late")
    provisioner = _impatient(platform)
    outcome = provisioner.run_once()
    assert outcome is not None and outcome.status == "success"
    assert _fired(platform) == [1]
    time.sleep(CLIENT_TIMEOUT * 4)  # past the held request's delay
    provisioner.sweep()
    recorded = servers.get(server_id, _anyone, platform.compute.uow()).hetzner_id
    assert recorded is not None
    assert [s["id"] for s in platform.sim.labelled(server_id)] == [recorded]
    assert len(platform.sim.servers()) == 1
