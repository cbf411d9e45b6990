"""`cloudctl up` / `status` / `down` on the whole stack, as `make up`, `make status`, `make down` run them.

This test owns the stack while it runs: it brings everything up, checks every process,
takes everything down (MariaDB and Kafka included) and checks that nothing is left.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloudctl import proc
from cloudctl.paths import LocalPaths
from cloudctl.stack import KAFKA_BOOTSTRAP, process_specs, service_key_files
from cloudplatform.gateway.v1.events_pb2 import RequestCompleted
from cloudplatform.identity.v1 import identity_service_pb2 as identity_pb2
from cloudplatform.identity.v1 import identity_service_pb2_grpc as identity_pb2_grpc
from cloudplatform.ops.v1 import service_info_pb2, service_info_pb2_grpc
from cpshared.auth.principal import generate_private_key, load_private_key, service_principal, sign, user_principal
from cpshared.context import PRINCIPAL_HEADER
from cpshared.events.catalog import REQUEST_COMPLETED
from cpshared.events.envelope import HEADER_EVENT_TYPE, parse_envelope
from cpshared.kafka_admin import topic_partitions
from cpshared.migrations import head_revision, migrations_dir
from cpshared.topics import SERVICE_STREAMS

pytestmark = pytest.mark.e2e

CLOUDCTL = [sys.executable, "-m", "cloudctl.main"]
INFRA_PORTS = (3306, 9092, 9093)


def cloudctl(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run([*CLOUDCTL, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stack_pids(paths: LocalPaths) -> dict[str, int | None]:
    names = ["mariadb", "kafka", *(s.name for s in process_specs(paths))]
    return {name: proc.read_pid(paths.pid_file(name)) for name in names}


async def _end_offsets(topic: str) -> dict[TopicPartition, int]:
    partitions = await topic_partitions(KAFKA_BOOTSTRAP, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def _request_log(start: dict[TopicPartition, int], request_ids: set[str]) -> list[RequestCompleted]:
    """The request.completed events on the stream after ``start``: until every one of
    ``request_ids`` was seen (30 s at most), then a second more, so a duplicate shows."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    events: list[RequestCompleted] = []
    try:
        consumer.assign(list(start))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if request_ids <= {event.request_id for event in events}:
                deadline = min(deadline, time.monotonic() + 1)
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    headers = dict(record.headers or ())
                    if headers.get(HEADER_EVENT_TYPE) != REQUEST_COMPLETED.event_type.encode() or not record.value:
                        continue
                    event = RequestCompleted()
                    parse_envelope(record.value).payload.Unpack(event)
                    events.append(event)
        return events
    finally:
        await consumer.stop()


def test_up_status_down_and_up_again(paths: LocalPaths) -> None:
    root = paths.root
    first = cloudctl("up", root=root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "http://127.0.0.1:8080" in first.stdout

    # The first admin exists and its token is readable by the operator alone.
    token = root / ".local" / "admin-token"
    assert token.exists() and token.stat().st_mode & 0o077 == 0

    pids = stack_pids(paths)
    assert all(pid is not None for pid in pids.values()), pids

    # Every gRPC service is SERVING, knows its version and runs on a migrated schema.
    for spec in process_specs(paths):
        if spec.grpc_port is None:
            continue
        with grpc.insecure_channel(f"127.0.0.1:{spec.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
            info = service_info_pb2_grpc.ServiceInfoServiceStub(channel).GetServiceInfo(
                service_info_pb2.GetServiceInfoRequest(), timeout=3
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert info.service == spec.service and info.pid == pids[spec.name]
        assert info.schema_revision == head_revision(migrations_dir(spec.service)) == info.schema_head

    # The gateway answers, tags answers with a request id and sees every backend.
    healthz = httpx.get("http://127.0.0.1:8080/healthz", timeout=5)
    assert healthz.status_code == 200 and healthz.json()["status"] == "ok"
    assert healthz.headers["X-Request-Id"]
    assert httpx.get("http://127.0.0.1:8080/healthz", headers={"X-Request-Id": "abc"}).headers["X-Request-Id"] == "abc"
    ready = httpx.get("http://127.0.0.1:8080/readyz", timeout=5)
    assert ready.status_code == 200, ready.text

    # The public API authenticates through identity: the first admin's token works, a missing
    # one is refused in Hetzner's error format, a new key is shown once and works at once.
    bearer = {"Authorization": f"Bearer {token.read_text().strip()}"}
    requests_stream = SERVICE_STREAMS["gateway"].name
    log_start = asyncio.run(_end_offsets(requests_stream))
    listed = httpx.get("http://127.0.0.1:8080/v1/api_keys", headers=bearer, timeout=5)
    assert listed.status_code == 200, listed.text
    assert listed.json()["meta"]["pagination"]["total_entries"] >= 1
    assert int(listed.headers["RateLimit-Remaining"]) < int(listed.headers["RateLimit-Limit"])
    refused = httpx.get("http://127.0.0.1:8080/v1/api_keys", timeout=5)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    created = httpx.post(
        "http://127.0.0.1:8080/v1/api_keys",
        headers=bearer | {"Idempotency-Key": f"e2e-{os.getpid()}"},
        json={"name": "e2e", "scopes": ["api_keys:read"]},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    mine = httpx.get("http://127.0.0.1:8080/v1/api_keys", headers={"Authorization": f"Bearer {secret}"}, timeout=5)
    assert mine.status_code == 200, mine.text

    # Each of those answers was logged once, through the gateway's outbox and its relay, as a
    # request.completed on gateway.requests, under the request id the answer carried.
    answers = (listed, refused, created, mine)
    request_ids = {answer.headers["X-Request-Id"] for answer in answers}
    logged = asyncio.run(_request_log(log_start, request_ids))
    assert sorted(event.request_id for event in logged) == sorted(request_ids)
    by_id = {event.request_id: event for event in logged}
    for answer in answers:
        event = by_id[answer.headers["X-Request-Id"]]
        assert (event.method, event.route, event.status) == (answer.request.method, "/v1/api_keys", answer.status_code)
    assert by_id[refused.headers["X-Request-Id"]].api_key_id == 0
    assert by_id[mine.headers["X-Request-Id"]].api_key_id == created.json()["api_key"]["id"]

    # Revoking the key reaches the gateway through identity's events (the cached principal is
    # dropped), so the key is refused within a second although the cache would keep it 30 s.
    key_url = f"http://127.0.0.1:8080/v1/api_keys/{created.json()['api_key']['id']}"
    assert httpx.delete(key_url, headers=bearer, timeout=5).status_code == 204
    revoked_at = time.monotonic()
    while httpx.get(key_url, headers={"Authorization": f"Bearer {secret}"}, timeout=5).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "a revoked key still worked a second later"
        time.sleep(0.02)

    # Every server verifies who is calling: identity refuses a direct call without a principal
    # assertion, or with one signed by a key it does not trust, and accepts the gateway's own.
    identity_port = next(s.grpc_port for s in process_specs(paths) if s.service == "identity")
    stranger = generate_private_key()
    forged = {
        "none": None,
        "user signed by an unknown key": sign(user_principal(user_id=1, role="admin", organizations={}), stranger),
        "gateway signed by an unknown key": sign(service_principal("gateway"), stranger),
        "garbage": "cp1.not.valid",
    }
    with grpc.insecure_channel(f"127.0.0.1:{identity_port}") as channel:
        list_keys = identity_pb2_grpc.IdentityServiceStub(channel).ListApiKeys
        for case, assertion in forged.items():
            metadata = ((PRINCIPAL_HEADER, assertion),) if assertion else ()
            with pytest.raises(grpc.RpcError) as unauthenticated:
                list_keys(identity_pb2.ListApiKeysRequest(user_id=1), metadata=metadata, timeout=5)
            assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED, case
        gateway_key = load_private_key(Path(service_key_files(paths, "gateway")[0]))
        trusted = ((PRINCIPAL_HEADER, sign(service_principal("gateway"), gateway_key)),)
        list_keys(identity_pb2.ListApiKeysRequest(user_id=1), metadata=trusted, timeout=5)  # answers

    # Every process serves Prometheus metrics on its own port.
    for spec in process_specs(paths):
        metrics = httpx.get(f"http://127.0.0.1:{spec.metrics_port}/metrics", timeout=5)
        assert metrics.status_code == 200 and "process_resident_memory_bytes" in metrics.text

    # The event pipeline works end to end on the running stack: each service's outbox is
    # published by its relay onto its stream.
    for service in ("identity", "compute", "gateway"):
        canary = cloudctl("canary", service, "--count", "200", root=root)
        assert canary.returncode == 0, canary.stdout + canary.stderr
        assert "200/200 canaries" in canary.stdout

    status = cloudctl("status", root=root)
    assert status.returncode == 0, status.stdout + status.stderr
    total = re.search(r"total\s.*?([\d,]+) MiB", status.stdout)
    assert total is not None, status.stdout
    print(status.stdout)  # the figures, for the record (pytest -s shows them)

    # A second `up` on a healthy stack starts nothing and changes no process.
    again = cloudctl("up", root=root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "started 0" in again.stdout
    assert stack_pids(paths) == pids

    down = cloudctl("down", root=root)
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(pid is None for pid in stack_pids(paths).values())
    assert not [name for name, pid in pids.items() if pid is not None and alive(pid)]
    service_ports = [p for s in process_specs(paths) for p in (s.port, s.metrics_port) if p]
    for port in (*INFRA_PORTS, *service_ports):
        assert not proc.port_open("127.0.0.1", port), f"port {port} still open after down"

    # `up` after `down` works, and leaves the stack as it found it for later runs.
    revived = cloudctl("up", root=root)
    assert revived.returncode == 0, revived.stdout + revived.stderr
    assert cloudctl("down", root=root).returncode == 0
