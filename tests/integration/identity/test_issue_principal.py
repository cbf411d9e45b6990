"""IssuePrincipal: an API key exchanged for a signed principal that other services verify."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC

import grpc
import pytest
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import PRINCIPAL_LIFETIME, generate_private_key, verify
from cpshared.grpc.server import ServiceIdentity, serve
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, UserRole
from identity_service.entrypoints.grpc_identity import add_identity_servicer
from identity_service.service_layer import api_keys, organizations
from tests.integration.identity.conftest import _free_port
from tests.integration.identity.support import make_user

SIGNING_KEY = generate_private_key()


@pytest.fixture
async def signing_stub(identity: Identity) -> AsyncIterator[pb_grpc.IdentityServiceAsyncStub]:
    signing = Identity(identity.engine, SIGNING_KEY)
    address = f"127.0.0.1:{_free_port()}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="identity", version="test"),
            address,
            lambda server: add_identity_servicer(server, signing),
            grace=0.5,
            stop_event=stop,
        )
    )
    async with aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        yield pb_grpc.IdentityServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


def organization_of(identity: Identity, owner_id: int, slug: str) -> int:
    organization, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner_id, name=slug.title(), slug=slug), identity.uow()
    )
    return organization.id


async def test_an_api_key_is_exchanged_for_a_principal_naming_its_user_roles_organizations_and_scopes(
    identity: Identity, signing_stub: pb_grpc.IdentityServiceAsyncStub
) -> None:
    ada = make_user(identity, role=UserRole.SUPPORT)
    bob = make_user(identity, email="bob@example.com")
    owned = organization_of(identity, ada.id, "ada-co")
    joined = organization_of(identity, bob.id, "bob-co")
    organizations.add_member(
        commands.AddMember(
            acting_user_id=bob.id, organization_id=joined, user_id=ada.id, role=OrganizationRole.BILLING
        ),
        identity.uow(),
    )
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=ada.id, name="ci", scopes=("servers:read", "billing:read")), identity.uow()
    )

    answer = await signing_stub.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret), timeout=10)

    principal = verify(answer.principal, SIGNING_KEY.public_key())
    assert (principal.kind, principal.user_id, principal.role) == ("user", ada.id, "support")
    assert dict(principal.organizations) == {owned: "owner", joined: "billing"}
    assert (principal.api_key_id, principal.scopes) == (key.id, ("servers:read", "billing:read"))
    assert principal.expires_at - principal.issued_at == PRINCIPAL_LIFETIME
    assert answer.expires_at.ToDatetime(tzinfo=UTC) == principal.expires_at
    assert secret not in answer.principal


async def test_a_key_bound_to_an_organization_speaks_only_within_it(
    identity: Identity, signing_stub: pb_grpc.IdentityServiceAsyncStub
) -> None:
    ada = make_user(identity)
    first, second = organization_of(identity, ada.id, "one"), organization_of(identity, ada.id, "two")
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=ada.id, name="ci", scopes=("*:read",), organization_id=second), identity.uow()
    )
    answer = await signing_stub.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret), timeout=10)
    speaks_for = verify(answer.principal, SIGNING_KEY.public_key()).organizations
    assert dict(speaks_for) == {second: "owner"} and first not in speaks_for


async def test_a_revoked_or_unknown_key_gets_no_principal(
    identity: Identity, signing_stub: pb_grpc.IdentityServiceAsyncStub
) -> None:
    ada = make_user(identity)
    key, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=ada.id, name="ci", scopes=("servers:read",)), identity.uow()
    )
    api_keys.revoke_api_key(key.id, identity.uow())
    for presented in (secret, "cpk_unknown", ""):
        with pytest.raises(aio.AioRpcError) as refused:
            await signing_stub.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=presented), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_request_without_a_credential_is_invalid(signing_stub: pb_grpc.IdentityServiceAsyncStub) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await signing_stub.IssuePrincipal(pb.IssuePrincipalRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_identity_service_without_a_signing_key_issues_no_principal(
    identity: Identity, stub: pb_grpc.IdentityServiceAsyncStub
) -> None:
    ada = make_user(identity)
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=ada.id, name="ci", scopes=("servers:read",)), identity.uow()
    )
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.IssuePrincipal(pb.IssuePrincipalRequest(api_key_secret=secret), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
