"""The shared gRPC bootstrap, exercised through a real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from cloudplatform.ops.v1 import service_info_pb2, service_info_pb2_grpc
from cpshared.context import correlation_id_var, current_caller, current_correlation_id
from cpshared.errors import NotFound
from cpshared.grpc.client import make_channel
from cpshared.grpc.server import ServiceIdentity, serve

ECHO_SERVICE = "cloudplatform.test.v1.EchoService"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Echo:
    """A raw-bytes service: the interceptors see it exactly as they see generated ones."""

    calls = 0

    async def whoami(self, request: bytes, context: Any) -> bytes:
        return f"{current_correlation_id()}|{current_caller().kind}:{current_caller().name}".encode()

    async def missing(self, request: bytes, context: Any) -> bytes:
        raise NotFound("server 42 does not exist")

    async def crash(self, request: bytes, context: Any) -> bytes:
        raise RuntimeError("boom: secret detail")


def register_echo(server: aio.Server) -> list[str]:
    echo = Echo()
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(getattr(echo, name.lower()))
        for name in ("WhoAmI", "Missing", "Crash")
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ECHO_SERVICE, handlers),))
    return [ECHO_SERVICE]


@pytest.fixture
async def server_address() -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    identity = ServiceIdentity(
        service="echo", version="1.2.3", schema_revision=lambda: "echo_0001", schema_head="echo_0001"
    )
    task = asyncio.create_task(serve(identity, address, register_echo, grace=0.5, stop_event=stop))
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


def _unary(channel: aio.Channel, method: str) -> Any:
    return channel.unary_unary(f"/{ECHO_SERVICE}/{method}")


async def test_health_reports_every_registered_service_as_serving(server_address: str) -> None:
    async with aio.insecure_channel(server_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", ECHO_SERVICE, "cloudplatform.ops.v1.ServiceInfoService"):
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(server_address: str) -> None:
    async with aio.insecure_channel(server_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name async for r in responses for s in r.list_services_response.service}
    assert {ECHO_SERVICE, "grpc.health.v1.Health", "cloudplatform.ops.v1.ServiceInfoService"} <= names


async def test_service_info_tells_version_and_schema_revision(server_address: str) -> None:
    async with aio.insecure_channel(server_address) as channel:
        info = await service_info_pb2_grpc.ServiceInfoServiceStub(channel).GetServiceInfo(
            service_info_pb2.GetServiceInfoRequest(), timeout=2
        )
    assert (info.service, info.version, info.schema_revision, info.schema_head) == (
        "echo",
        "1.2.3",
        "echo_0001",
        "echo_0001",
    )
    assert info.pid > 0 and info.started_at.seconds > 0


async def test_client_sends_correlation_id_and_service_identity(server_address: str) -> None:
    token = correlation_id_var.set("corr-123")
    try:
        async with make_channel(server_address, caller="billing") as channel:
            answer = await _unary(channel, "WhoAmI")(b"")
    finally:
        correlation_id_var.reset(token)
    assert answer == b"corr-123|service:billing"


async def test_server_makes_a_correlation_id_when_the_caller_sent_none(server_address: str) -> None:
    async with aio.insecure_channel(server_address) as channel:
        answer = await _unary(channel, "WhoAmI")(b"", timeout=2)
    correlation_id, caller = answer.decode().split("|")
    assert len(correlation_id) == 36 and caller == "anonymous:"


async def test_domain_error_maps_to_its_status_code_with_its_message(server_address: str) -> None:
    async with make_channel(server_address, caller="gateway") as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await _unary(channel, "Missing")(b"")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "not_found: server 42 does not exist"


async def test_unexpected_exception_is_internal_without_its_details(server_address: str) -> None:
    async with make_channel(server_address, caller="gateway") as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await _unary(channel, "Crash")(b"")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


async def test_requests_are_counted_by_method_and_code(server_address: str) -> None:
    def count(method: str, code: str) -> float:
        labels = {"grpc_service": ECHO_SERVICE, "grpc_method": method, "grpc_code": code}
        return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0

    before = count("Missing", "NOT_FOUND")
    async with make_channel(server_address, caller="gateway") as channel:
        with pytest.raises(aio.AioRpcError):
            await _unary(channel, "Missing")(b"")
    assert count("Missing", "NOT_FOUND") == before + 1


async def test_client_applies_a_default_deadline() -> None:
    # Nothing listens on this port and wait_for_ready holds the call: only the deadline ends it.
    async with make_channel(f"127.0.0.1:{_free_port()}", caller="gateway", deadline=0.3) as channel:
        call: Any = channel.unary_unary(f"/{ECHO_SERVICE}/WhoAmI")
        with pytest.raises(aio.AioRpcError) as caught:
            await call(b"", wait_for_ready=True)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_graceful_stop_turns_health_not_serving_before_closing() -> None:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ServiceIdentity("echo", "1"), address, register_echo, grace=1.0, stop_event=stop))
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stop.set()
        second = await asyncio.wait_for(watch.read(), timeout=5)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
    await asyncio.wait_for(task, timeout=10)
