"""ServerService over real gRPC with verified principals: a user reaches its own servers and
its organization's, another tenant's answer NOT_FOUND, admins see all; error codes travel in
the status details (resource_limit_exceeded, locked)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudplatform.compute.v1 import server_service_pb2 as pb
from cloudplatform.compute.v1 import server_service_pb2_grpc as pb_grpc
from compute_service.entrypoints.grpc_server import add_servicers
from cpshared.auth.principal import TrustedKeys, generate_private_key, sign, user_principal
from tests.integration.compute.servers.conftest import Platform
from tests.integration.live import grpc_in_thread

Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
def served(platform: Platform) -> Iterator[tuple[pb_grpc.ServerServiceStub, Ed25519PrivateKey]]:
    signing = generate_private_key()
    trusted = TrustedKeys(issuer=signing.public_key())
    with (
        grpc_in_thread("compute", lambda server: add_servicers(server, platform.compute), trusted) as address,
        grpc.insecure_channel(address) as channel,
    ):
        yield pb_grpc.ServerServiceStub(channel), signing


def _as(signing: Ed25519PrivateKey, user_id: int, role: str = "client", orgs: dict[int, str] | None = None) -> Metadata:
    return (("x-principal", sign(user_principal(user_id=user_id, role=role, organizations=orgs or {}), signing)),)


def _create(stub: pb_grpc.ServerServiceStub, metadata: Metadata, user_id: int, name: str) -> pb.CreateServerResponse:
    request = pb.CreateServerRequest(
        user_id=user_id, name=name, server_type="cx22", image="ubuntu-24.04", datacenter="nbg1"
    )
    answer: pb.CreateServerResponse = stub.CreateServer(request, metadata=metadata)
    return answer


def test_servers_are_reached_by_their_tenant_only_and_errors_carry_their_codes(
    platform: Platform, served: tuple[pb_grpc.ServerServiceStub, Ed25519PrivateKey]
) -> None:
    stub, signing = served
    owner, stranger = platform.user_id, platform.new_user("stranger@example.com")
    mine = _as(signing, owner)
    created = _create(stub, mine, owner, "grpc-1")
    assert (created.server.status, created.action.command) == ("provisioning", "create_server")
    server_id = created.server.id
    assert stub.GetServer(pb.GetServerRequest(server_id=server_id), metadata=mine).server.name == "grpc-1"
    for call in (
        lambda md: stub.GetServer(pb.GetServerRequest(server_id=server_id), metadata=md),
        lambda md: stub.PowerOffServer(pb.PowerOffServerRequest(server_id=server_id), metadata=md),
        lambda md: stub.DeleteServer(pb.DeleteServerRequest(server_id=server_id), metadata=md),
        lambda md: stub.ListActions(pb.ListActionsRequest(server_id=server_id), metadata=md),
        lambda md: stub.GetAction(pb.GetActionRequest(action_id=created.action.id), metadata=md),
    ):
        with pytest.raises(grpc.RpcError) as hidden:
            call(_as(signing, stranger))
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    theirs = stub.ListServers(pb.ListServersRequest(user_id=stranger), metadata=_as(signing, stranger))
    assert theirs.total_entries == 0
    with pytest.raises(grpc.RpcError) as impersonating:
        stub.ListServers(pb.ListServersRequest(user_id=owner), metadata=_as(signing, stranger))
    assert impersonating.value.code() == grpc.StatusCode.PERMISSION_DENIED
    everyone = stub.ListServers(pb.ListServersRequest(all_tenants=True), metadata=_as(signing, 1, role="admin"))
    assert [s.id for s in everyone.servers] == [server_id]
    with pytest.raises(grpc.RpcError) as locked:
        stub.DeleteServer(pb.DeleteServerRequest(server_id=server_id), metadata=mine)
    assert locked.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (locked.value.details() or "").startswith("locked: ")
    platform.set_server_limit(1)
    with pytest.raises(grpc.RpcError) as exhausted:
        _create(stub, mine, owner, "grpc-2")
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (exhausted.value.details() or "").startswith("resource_limit_exceeded: ")
    assert stub.ListServers(pb.ListServersRequest(user_id=owner), metadata=mine).total_entries == 1
