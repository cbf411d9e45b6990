"""Principal assertions on the wire: a real grpc.aio server on loopback that verifies them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cloudplatform.ops.v1 import service_info_pb2, service_info_pb2_grpc
from cpshared.auth.principal import (
    PRINCIPAL_LIFETIME,
    TrustedKeys,
    generate_private_key,
    service_principal,
    sign,
    user_principal,
)
from cpshared.clock import ManualClock, set_clock, utcnow
from cpshared.context import PRINCIPAL_HEADER, VerifiedPrincipal, current_principal, principal_var
from cpshared.grpc.client import make_channel
from cpshared.grpc.server import ServiceIdentity, serve

SERVICE = "cloudplatform.test.v1.GuardedService"
IDENTITY_KEY = generate_private_key()
BILLING_KEY = generate_private_key()
TRUSTED = TrustedKeys(issuer=IDENTITY_KEY.public_key(), services={"billing": BILLING_KEY.public_key()})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unary(channel: aio.Channel, method: str) -> Any:
    return channel.unary_unary(f"/{SERVICE}/{method}")


def _stream(channel: aio.Channel, method: str) -> Any:
    return channel.unary_stream(f"/{SERVICE}/{method}")


async def who(request: bytes, context: Any) -> bytes:
    principal = current_principal()
    if principal is None:
        return b"nobody"
    if principal.is_service:
        return f"service:{principal.service}".encode()
    return f"user:{principal.user_id}:{principal.role}:{sorted(principal.organizations.items())}".encode()


async def stream_who(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"streamed"


def register(server: aio.Server) -> list[str]:
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Who": grpc.unary_unary_rpc_method_handler(who),
        "StreamWho": grpc.unary_stream_rpc_method_handler(stream_who),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return [SERVICE]


async def _running(trusted: TrustedKeys | None) -> AsyncIterator[str]:
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(ServiceIdentity("guarded", "1"), address, register, grace=0.5, stop_event=stop, trusted=trusted)
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
    yield address
    stop.set()
    await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def guarded() -> AsyncIterator[str]:
    async for address in _running(TRUSTED):
        yield address


@pytest.fixture
async def unguarded() -> AsyncIterator[str]:
    async for address in _running(None):
        yield address


def ada_token() -> str:
    return sign(user_principal(user_id=7, role="client", organizations={3: "owner"}, api_key_id=42), IDENTITY_KEY)


async def call_who(address: str, token: str | None = None) -> bytes:
    metadata = ((PRINCIPAL_HEADER, token),) if token is not None else None
    async with aio.insecure_channel(address) as channel:
        answer: bytes = await _unary(channel, "Who")(b"", metadata=metadata, timeout=5)
    return answer


async def refusal(address: str, token: str | None = None) -> aio.AioRpcError:
    with pytest.raises(aio.AioRpcError) as caught:
        await call_who(address, token)
    return caught.value


async def test_a_valid_user_assertion_reaches_the_handler_as_the_principal(guarded: str) -> None:
    assert await call_who(guarded, ada_token()) == b"user:7:client:[(3, 'owner')]"


async def test_a_call_without_an_assertion_is_unauthenticated(guarded: str) -> None:
    refused = await refusal(guarded)
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "x-principal" in (refused.details() or "")


@pytest.mark.parametrize(
    "token",
    [
        "cp1.not.valid",
        sign(user_principal(user_id=7, role="admin", organizations={}), generate_private_key()),
        sign(user_principal(user_id=7, role="admin", organizations={}), BILLING_KEY),
        sign(service_principal("compute"), BILLING_KEY),
    ],
    ids=["malformed", "unknown-key", "service-key-minting-a-user", "service-key-of-another-service"],
)
async def test_a_call_with_an_invalid_assertion_is_unauthenticated(guarded: str, token: str) -> None:
    refused = await refusal(guarded, token)
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (refused.details() or "").startswith("unauthorized: ")


async def test_an_expired_assertion_is_unauthenticated(guarded: str) -> None:
    token = ada_token()
    previous = set_clock(ManualClock(utcnow() + PRINCIPAL_LIFETIME + timedelta(seconds=1)))
    try:
        refused = await refusal(guarded, token)
    finally:
        set_clock(previous)
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in (refused.details() or "")


async def test_a_streaming_call_without_an_assertion_is_unauthenticated(guarded: str) -> None:
    async with aio.insecure_channel(guarded) as channel:
        call = _stream(channel, "StreamWho")(b"", timeout=5)
        with pytest.raises(aio.AioRpcError) as caught:
            [item async for item in call]
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with aio.insecure_channel(guarded) as channel:
        call = _stream(channel, "StreamWho")(b"", metadata=((PRINCIPAL_HEADER, ada_token()),))
        assert [item async for item in call] == [b"streamed"]


async def test_health_reflection_and_service_info_answer_without_an_assertion(guarded: str) -> None:
    async with aio.insecure_channel(guarded) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        info = await service_info_pb2_grpc.ServiceInfoServiceStub(channel).GetServiceInfo(
            service_info_pb2.GetServiceInfoRequest(), timeout=5
        )
        assert info.service == "guarded"
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        assert SERVICE in {s.name async for r in responses for s in r.list_services_response.service}


async def test_a_service_channel_carries_the_services_own_signed_identity(guarded: str) -> None:
    async with make_channel(guarded, caller="billing", service_key=BILLING_KEY) as channel:
        assert await _unary(channel, "Who")(b"") == b"service:billing"


async def test_a_service_acting_for_a_user_passes_the_users_assertion_on(guarded: str) -> None:
    token = ada_token()
    bound = principal_var.set(VerifiedPrincipal(user_principal(user_id=7, role="client", organizations={}), token))
    try:
        async with make_channel(guarded, caller="billing", service_key=BILLING_KEY) as channel:
            answer = await _unary(channel, "Who")(b"")
    finally:
        principal_var.reset(bound)
    assert answer == b"user:7:client:[(3, 'owner')]"


async def test_a_service_channel_without_a_key_sends_no_identity_and_is_refused(guarded: str) -> None:
    async with make_channel(guarded, caller="billing") as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await _unary(channel, "Who")(b"")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_server_without_trusted_keys_checks_nothing_and_binds_no_principal(unguarded: str) -> None:
    assert await call_who(unguarded) == b"nobody"
    assert await call_who(unguarded, "cp1.not.valid") == b"nobody"


def test_a_verified_assertion_is_checked_once_and_its_lifetime_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from cpshared.auth import principal as principal_module
    from cpshared.grpc import interceptors

    key = generate_private_key()
    interceptor = interceptors.PrincipalInterceptor(TrustedKeys(issuer=key.public_key()))
    token = sign(user_principal(user_id=7, role="client", organizations={}), key)
    checks: list[str] = []
    real_verify = principal_module.verify

    def counting(*args: Any, **kwargs: Any) -> Any:
        checks.append("verify")
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(interceptors, "verify", counting)
    details = SimpleNamespace(
        method="/cloudplatform.identity.v1.IdentityService/ListApiKeys",
        invocation_metadata=((PRINCIPAL_HEADER, token),),
    )
    first, second = interceptor.prepare(details), interceptor.prepare(details)
    assert isinstance(first, VerifiedPrincipal) and second is first and checks == ["verify"]
    clock = ManualClock(utcnow() + timedelta(minutes=10))  # past its five-minute lifetime
    previous = set_clock(clock)
    try:
        assert not isinstance(interceptor.prepare(details), VerifiedPrincipal)
    finally:
        set_clock(previous)
