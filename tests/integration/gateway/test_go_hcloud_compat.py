"""Hetzner's official Go library (hcloud-go, under Terraform's provider, Packer and the hcloud CLI)
against the gateway, unchanged: the Go module ``tests/go/hcloudcompat`` runs a Terraform-like
scenario (``go test``) with only the endpoint and a platform API token set.

The platform is served as in test_servers_api.py (identity, compute with its provisioning
worker, network and storage with their workers against the in-process Hetzner simulator, the gateway on a
loopback port; compute's server events applied by network's consumer as the stack does). The gateway's
ASGI app is wrapped by a recorder, and after the Go run every JSON answer the Go client got is
validated against Hetzner's spec with the integer/number strictness Go has
(``tests/unit/hetzner_sim/spec.py``). The Go test itself fails on any answer hcloud-go cannot
decode. ``go`` fetches hcloud-go (pinned in go.mod and go.sum) through the Go module proxy into
its module cache on the first run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, users
from network_service.entrypoints.server_projection import ServerProjection
from tests.integration.gateway.test_servers_api import Worker
from tests.integration.gateway.test_volumes_api import StorageWorker
from tests.integration.live import LivePlatform, live_platform, network_worker_running
from tests.integration.monitoring.support import MonitoringPipeline
from tests.unit.hetzner_sim import spec

MODULE = Path(__file__).resolve().parents[2] / "go" / "hcloudcompat"
GO_TIMEOUT_SECONDS = 600  # the first run downloads hcloud-go and builds it; later runs take seconds


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: str
    status: int
    content_type: str
    body: bytes


class Recorder:
    """An ASGI wrapper keeping every request's method and path with the answer's status and body."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.app: ASGIApp | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        self.app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, content_type, chunks = 0, "", []

        async def record(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, record)
        query = scope.get("query_string", b"").decode("latin-1")
        self.exchanges.append(Exchange(scope["method"], scope["path"], query, status, content_type, b"".join(chunks)))


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def platform(paths: LocalPaths, recorder: Recorder) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_go_id") as identity_url,
        mariadb.scratch_database("cp_test_go_gw") as gateway_url,
        mariadb.scratch_database("cp_test_go_cp") as compute_url,
        mariadb.scratch_database("cp_test_go_nw") as network_url,
        mariadb.scratch_database("cp_test_go_st") as storage_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("network", migrations_dir("network"), network_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        with (
            live_platform(
                identity_url,
                gateway_url,
                compute_url=compute_url,
                network_url=network_url,
                storage_url=storage_url,
                wrap_gateway=recorder.wrap,
            ) as live,
            network_worker_running(live),
        ):
            yield live


class ComputeEventsToNetwork:
    """Network's consumer of compute.events, as the stack runs it: compute's server events, read from
    compute's outbox in order, applied by network's projection (a server's labels for firewalls'
    selectors, its own addresses adopted as primary IPs, a deleted server's leftovers)."""

    def __init__(self, platform: LivePlatform) -> None:
        assert platform.compute is not None and platform.network is not None
        self.compute, self.network = platform.compute.engine, platform.network.engine
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.last = 0

    def _run(self) -> None:
        runner = ProjectionRunner(self.network, ServerProjection())
        while not self.stop_event.wait(0.1):
            with self.compute.connect() as conn:
                rows = conn.execute(
                    sa.select(outbox.c.id, outbox.c.topic, outbox.c.message_key, outbox.c.envelope)
                    .where(outbox.c.id > self.last, outbox.c.event_type.like("server.%"))
                    .order_by(outbox.c.id)
                ).all()
            if rows:
                runner.apply_batch([RawRecord(r.topic, 0, r.id, r.message_key.encode(), r.envelope) for r in rows])
                self.last = rows[-1].id

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


@pytest.fixture(scope="module")
def running_worker(platform: LivePlatform) -> Iterator[Worker]:
    runner = Worker(platform)
    runner.start()
    consumer = ComputeEventsToNetwork(platform)
    consumer.thread.start()
    storage = StorageWorker(platform)  # volumes' actions, as the stack's storage-worker
    storage.thread.start()
    # Monitoring stores the servers' metrics the scenario asks for.
    pipeline = MonitoringPipeline(platform)
    pipeline.start()
    try:
        yield runner
    finally:
        consumer.stop()
        pipeline.stop()
        storage.stop()
        runner.stop()


def _token(platform: LivePlatform) -> str:
    user = users.create_user(
        commands.CreateUser(
            name="Terraform User",
            email="terraform@example.com",
            password="a long enough password",
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="terraform", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    return secret


def _go() -> str:
    found = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("the Go toolchain (go) is needed for the Go compatibility suite and was not found")
    return found


def _problems(exchanges: list[Exchange]) -> tuple[list[str], set[str]]:
    """Every JSON answer under /v1 checked against the spec: the problems and the operations seen."""
    problems: list[str] = []
    seen: set[str] = set()
    for exchange in exchanges:
        if not exchange.path.startswith("/v1/"):
            continue
        template = spec.operation_path(exchange.path)
        seen.add(f"{exchange.method} {template or exchange.path} {exchange.status}")
        if not exchange.body:
            continue
        if not exchange.content_type.startswith("application/json"):
            problems.append(f"{exchange.method} {exchange.path} {exchange.status}: not JSON ({exchange.content_type})")
            continue
        try:
            spec.validate(exchange.method, exchange.path, exchange.status, json.loads(exchange.body))
        except AssertionError as error:
            problems.append(str(error))
    return problems, seen


def test_hcloud_go_runs_a_terraform_scenario_and_every_answer_matches_the_spec(
    platform: LivePlatform, running_worker: Worker, recorder: Recorder
) -> None:
    env = {
        **os.environ,
        "CP_HCLOUD_ENDPOINT": f"{platform.gateway}/v1",
        "CP_HCLOUD_TOKEN": _token(platform),
        "CP_HCLOUD_OWN_TENANT": "1",  # a user of its own: at the end it has nothing at all left
        "GOTOOLCHAIN": "local",
    }
    go = _go()
    fetched = subprocess.run(  # hcloud-go and its modules, as go.sum pins them, into the module cache
        [go, "mod", "download"], cwd=MODULE, env=env, capture_output=True, text=True, timeout=GO_TIMEOUT_SECONDS
    )
    assert fetched.returncode == 0, f"go mod download failed:\n{fetched.stdout}{fetched.stderr}"
    run = subprocess.run(
        [go, "test", "-count=1", "-v", "./..."],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=GO_TIMEOUT_SECONDS,
        check=False,
    )
    output = run.stdout + run.stderr
    problems, seen = _problems(recorder.exchanges)
    assert run.returncode == 0, f"go test failed ({run.returncode}):\n{output[-8000:]}\n" + "\n".join(problems)
    assert "--- PASS: TestTerraformScenario" in output, output[-4000:]
    assert not problems, f"{len(problems)} answers do not match the spec:\n" + "\n\n".join(problems)
    for operation in (
        "GET /server_types 200",
        "GET /locations 200",
        "GET /datacenters 200",
        "GET /images 200",
        "GET /isos 200",
        "GET /pricing 200",
        "POST /ssh_keys 201",
        "POST /servers 201",
        "GET /servers 200",
        "GET /actions 200",
        "POST /servers/{id}/actions/change_type 201",
        "POST /servers/{id}/actions/rebuild 201",
        "POST /servers/{id}/actions/enable_rescue 201",
        "POST /servers/{id}/actions/create_image 201",
        "GET /servers/{id}/metrics 200",
        "DELETE /servers/{id} 200",
        "DELETE /images/{id} 204",
        "DELETE /ssh_keys/{id} 204",
        "POST /images/{id}/actions/change_protection 201",
        "GET /load_balancer_types 200",
        "POST /placement_groups 201",
        "POST /servers/{id}/actions/remove_from_placement_group 201",
        "POST /servers/{id}/actions/add_to_placement_group 201",
        "GET /placement_groups/{id} 200",
        "DELETE /placement_groups/{id} 204",
        "POST /floating_ips 201",
        "GET /floating_ips 200",
        "POST /floating_ips/{id}/actions/assign 201",
        "POST /floating_ips/{id}/actions/change_dns_ptr 201",
        "POST /floating_ips/{id}/actions/change_protection 201",
        "POST /floating_ips/{id}/actions/unassign 201",
        "PUT /floating_ips/{id} 200",
        "DELETE /floating_ips/{id} 423",
        "DELETE /floating_ips/{id} 204",
        "GET /floating_ips/actions 200",
        "POST /volumes 201",
        "GET /volumes 200",
        "GET /volumes/{id} 200",
        "POST /volumes/{id}/actions/attach 201",
        "POST /volumes/{id}/actions/detach 201",
        "POST /volumes/{id}/actions/resize 201",
        "POST /volumes/{id}/actions/resize 400",
        "POST /volumes/{id}/actions/change_protection 201",
        "DELETE /volumes/{id} 423",
        "DELETE /volumes/{id} 422",
        "DELETE /volumes/{id} 204",
        "GET /volumes/actions 200",
        "POST /networks 201",
        "POST /networks/{id}/actions/add_subnet 201",
        "POST /networks/{id}/actions/delete_subnet 201",
        "POST /networks/{id}/actions/add_route 201",
        "POST /networks/{id}/actions/delete_route 201",
        "POST /networks/{id}/actions/change_ip_range 201",
        "POST /networks/{id}/actions/change_protection 201",
        "POST /servers/{id}/actions/attach_to_network 201",
        "POST /servers/{id}/actions/change_alias_ips 201",
        "POST /servers/{id}/actions/detach_from_network 201",
        "PUT /networks/{id} 200",
        "DELETE /networks/{id} 423",
        "DELETE /networks/{id} 204",
        "POST /firewalls 201",
        "GET /firewalls 200",
        "POST /firewalls/{id}/actions/set_rules 201",
        "POST /firewalls/{id}/actions/apply_to_resources 201",
        "POST /firewalls/{id}/actions/remove_from_resources 201",
        "DELETE /firewalls/{id} 422",
        "DELETE /firewalls/{id} 204",
        "POST /primary_ips 201",
        "GET /primary_ips 200",
        "PUT /primary_ips/{id} 200",
        "POST /primary_ips/{id}/actions/assign 201",
        "POST /primary_ips/{id}/actions/unassign 201",
        "POST /primary_ips/{id}/actions/unassign 422",
        "POST /primary_ips/{id}/actions/change_dns_ptr 201",
        "POST /primary_ips/{id}/actions/change_protection 201",
        "DELETE /primary_ips/{id} 423",
        "DELETE /primary_ips/{id} 204",
        "GET /primary_ips/actions 200",
    ):
        assert operation in seen, f"the Go client never got {operation}: {sorted(seen)}"
    pages = [
        e.query for e in recorder.exchanges if e.method == "GET" and e.path == "/v1/servers" and "per_page=2" in e.query
    ]
    assert any("page=2" in query.split("&") for query in pages), pages
    volume_pages = [
        e.query for e in recorder.exchanges if e.method == "GET" and e.path == "/v1/volumes" and "per_page=1" in e.query
    ]
    assert any("page=2" in query.split("&") for query in volume_pages), volume_pages
    for family in ("networks", "firewalls", "primary_ips"):
        paged = [
            e.query
            for e in recorder.exchanges
            if e.method == "GET" and e.path == f"/v1/{family}" and "per_page=1" in e.query
        ]
        assert any("page=2" in query.split("&") for query in paged), (family, paged)
