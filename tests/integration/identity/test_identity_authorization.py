"""Identity with verification on: who may call which RPC, from the verified principal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import TrustedKeys, generate_private_key, service_principal, sign, user_principal
from cpshared.context import PRINCIPAL_HEADER
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import api_keys
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import make_user

IDENTITY_KEY, GATEWAY_KEY = generate_private_key(), generate_private_key()
TRUSTED = TrustedKeys(issuer=IDENTITY_KEY.public_key(), services={"gateway": GATEWAY_KEY.public_key()})
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
async def guarded(identity: Identity) -> AsyncIterator[pb_grpc.IdentityServiceAsyncStub]:
    signing = Identity(identity.engine, IDENTITY_KEY)
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing),
            grace=0.5,
            stop_event=stop,
            trusted=TRUSTED,
        )
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield pb_grpc.IdentityServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


def as_user(user_id: int, role: str = "client") -> Metadata:
    return ((PRINCIPAL_HEADER, sign(user_principal(user_id=user_id, role=role, organizations={}), IDENTITY_KEY)),)


def as_gateway() -> Metadata:
    """The gateway's service assertion, signed now (a module-level one would expire during a long run)."""
    return ((PRINCIPAL_HEADER, sign(service_principal("gateway"), GATEWAY_KEY)),)


def new_key(identity: Identity, user_id: int) -> tuple[int, str]:
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user_id, name="ci", scopes=("api_keys:read",)), identity.uow()
    )
    return key.id, secret


async def refused(call: object, code: grpc.StatusCode) -> None:
    with pytest.raises(aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    assert failed.value.code() == code, failed.value.details()


async def test_the_gateway_service_exchanges_a_key_and_a_user_acts_only_on_itself(
    identity: Identity, guarded: pb_grpc.IdentityServiceAsyncStub
) -> None:
    ada, bob = make_user(identity), make_user(identity, "bob@example.com")
    root = make_user(identity, "root@example.com", UserRole.ADMIN)
    ada_key, ada_secret = new_key(identity, ada.id)
    bob_key, _ = new_key(identity, bob.id)

    issued = await guarded.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=ada_secret), metadata=as_gateway())
    who = await guarded.AuthenticateApiKey(pb.AuthenticateApiKeyRequest(secret=ada_secret), metadata=as_gateway())
    assert issued.principal and who.api_key.id == ada_key
    ada_assertion: Metadata = ((PRINCIPAL_HEADER, issued.principal),)

    # Without an assertion nothing but health answers.
    await refused(guarded.ListApiKeys(pb.ListApiKeysRequest(user_id=ada.id)), grpc.StatusCode.UNAUTHENTICATED)
    # Ada's own keys, through the assertion identity issued her; Bob's are not found.
    mine = await guarded.ListApiKeys(pb.ListApiKeysRequest(user_id=ada.id), metadata=ada_assertion)
    assert [k.id for k in mine.api_keys] == [ada_key]
    await refused(
        guarded.ListApiKeys(pb.ListApiKeysRequest(user_id=bob.id), metadata=ada_assertion), grpc.StatusCode.NOT_FOUND
    )
    await refused(
        guarded.RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id=bob_key), metadata=as_user(ada.id)),
        grpc.StatusCode.NOT_FOUND,
    )
    await refused(
        guarded.CreateApiKey(
            pb.CreateApiKeyRequest(user_id=bob.id, name="x", scopes=["api_keys:read"]), metadata=as_user(ada.id)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # RPCs no user has a right to.
    await refused(
        guarded.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=ada_secret), metadata=as_user(ada.id)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await refused(
        guarded.CreateUser(
            pb.CreateUserRequest(name="E", email="eve@example.com", password="a long password indeed"),
            metadata=as_user(ada.id),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # An admin acts on anyone.
    theirs = await guarded.ListApiKeys(pb.ListApiKeysRequest(user_id=bob.id), metadata=as_user(root.id, "admin"))
    assert [k.id for k in theirs.api_keys] == [bob_key]
    revoked = await guarded.RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id=bob_key), metadata=as_user(root.id, "admin"))
    assert revoked.api_key.HasField("revoked_at")
