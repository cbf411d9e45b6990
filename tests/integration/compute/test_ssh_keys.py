"""SSH keys: validation, fingerprint, uniqueness per tenant, and tenant isolation over gRPC."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import grpc
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as pb_grpc
from compute_service.bootstrap import Compute
from compute_service.domain.ssh_keys import parse_public_key
from compute_service.entrypoints.grpc_server import add_servicers
from cpshared.auth.principal import TrustedKeys, generate_private_key, sign, user_principal
from cpshared.errors import AlreadyExists, InvalidInput
from cpshared.events.envelope import parse_envelope
from tests.integration.live import grpc_in_thread


def new_public_key(comment: str = "me@host") -> str:
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{raw} {comment}"


def test_the_fingerprint_is_the_md5_of_the_key_blob_in_colon_hex() -> None:
    text = new_public_key()
    digest = hashlib.md5(base64.b64decode(text.split()[1])).hexdigest()  # noqa: S324
    parsed = parse_public_key(text)
    assert parsed.fingerprint == ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    assert parsed.type == "ssh-ed25519"


@pytest.mark.parametrize(
    "bad", ["", "ssh-ed25519", "ssh-ed25519 AAAAnotbase64!!", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ", "hello"]
)
def test_a_malformed_public_key_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_public_key(bad)


@pytest.fixture
def served(compute: Compute) -> Iterator[tuple[str, Ed25519PrivateKey]]:
    signing = generate_private_key()
    trusted = TrustedKeys(issuer=signing.public_key())
    with grpc_in_thread("compute", lambda server: add_servicers(server, compute), trusted) as address:
        yield address, signing


def _stub(address: str) -> pb_grpc.ComputeServiceStub:
    return pb_grpc.ComputeServiceStub(grpc.insecure_channel(address))


Metadata = tuple[tuple[str, str | bytes], ...]


def _as(signing: Ed25519PrivateKey, user_id: int, role: str = "client", orgs: dict[int, str] | None = None) -> Metadata:
    principal = user_principal(user_id=user_id, role=role, organizations=orgs or {})
    return (("x-principal", sign(principal, signing)),)


def test_keys_are_unique_per_tenant_and_invisible_to_other_tenants(
    served: tuple[str, Ed25519PrivateKey],
) -> None:
    address, signing = served
    stub = _stub(address)
    alice, bob, admin = _as(signing, 1), _as(signing, 2), _as(signing, 3, "admin")
    text = new_public_key()
    made = stub.CreateSshKey(pb.CreateSshKeyRequest(user_id=1, name="laptop", public_key=text), metadata=alice).ssh_key
    assert made.fingerprint == parse_public_key(text).fingerprint
    for name, key in (("laptop", new_public_key()), ("other", text)):
        with pytest.raises(grpc.RpcError) as raised:
            stub.CreateSshKey(pb.CreateSshKeyRequest(user_id=1, name=name, public_key=key), metadata=alice)
        assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert (raised.value.details() or "").startswith(AlreadyExists.code)
    # Another tenant may hold the same key under the same name.
    stub.CreateSshKey(pb.CreateSshKeyRequest(user_id=2, name="laptop", public_key=text), metadata=bob)
    for call in (
        lambda: stub.GetSshKey(pb.GetSshKeyRequest(ssh_key_id=made.id, user_id=2), metadata=bob),
        lambda: stub.UpdateSshKey(pb.UpdateSshKeyRequest(ssh_key_id=made.id, user_id=2, name="x"), metadata=bob),
        lambda: stub.DeleteSshKey(pb.DeleteSshKeyRequest(ssh_key_id=made.id, user_id=2), metadata=bob),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListSshKeys(pb.ListSshKeysRequest(user_id=1), metadata=bob)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = stub.ListSshKeys(pb.ListSshKeysRequest(user_id=2), metadata=bob)
    assert [k.user_id for k in listed.ssh_keys] == [2]
    assert stub.GetSshKey(pb.GetSshKeyRequest(ssh_key_id=made.id, user_id=3), metadata=admin).ssh_key.id == made.id


def test_an_organizations_keys_are_reached_by_its_members_only(served: tuple[str, Ed25519PrivateKey]) -> None:
    address, signing = served
    stub = _stub(address)
    owner, member, outsider = _as(signing, 1, orgs={7: "owner"}), _as(signing, 2, orgs={7: "member"}), _as(signing, 3)
    made = stub.CreateSshKey(
        pb.CreateSshKeyRequest(user_id=1, organization_id=7, name="deploy", public_key=new_public_key()),
        metadata=owner,
    ).ssh_key
    got = stub.GetSshKey(pb.GetSshKeyRequest(ssh_key_id=made.id, user_id=2, organization_id=7), metadata=member)
    assert got.ssh_key.organization_id == 7
    listed = stub.ListSshKeys(pb.ListSshKeysRequest(user_id=2, organization_id=7), metadata=member)
    assert [k.id for k in listed.ssh_keys] == [made.id]
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetSshKey(pb.GetSshKeyRequest(ssh_key_id=made.id, user_id=3, organization_id=7), metadata=outsider)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetSshKey(pb.GetSshKeyRequest(ssh_key_id=made.id, user_id=2), metadata=member)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_update_and_delete_record_events_with_rising_versions(
    compute: Compute, served: tuple[str, Ed25519PrivateKey]
) -> None:
    address, signing = served
    stub = _stub(address)
    alice = _as(signing, 1)
    made = stub.CreateSshKey(
        pb.CreateSshKeyRequest(user_id=1, name="a", public_key=new_public_key(), labels={"env": "prod"}),
        metadata=alice,
    ).ssh_key
    changed = stub.UpdateSshKey(
        pb.UpdateSshKeyRequest(ssh_key_id=made.id, user_id=1, name="b", replace_labels=True, labels={"env": "dev"}),
        metadata=alice,
    ).ssh_key
    assert (changed.name, dict(changed.labels), changed.version) == ("b", {"env": "dev"}, 2)
    selected = stub.ListSshKeys(
        pb.ListSshKeysRequest(user_id=1, label_selector=[pb.LabelRequirement(key="env", operator="=", values=["dev"])]),
        metadata=alice,
    )
    assert selected.total_entries == 1
    stub.DeleteSshKey(pb.DeleteSshKeyRequest(ssh_key_id=made.id, user_id=1), metadata=alice)
    with compute.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT envelope FROM outbox ORDER BY id")).scalars().all()
    envelopes = [parse_envelope(row) for row in rows]
    assert [(e.event_type, e.aggregate_version) for e in envelopes if e.aggregate_id == str(made.id)] == [
        ("ssh_key.created", 1),
        ("ssh_key.updated", 2),
        ("ssh_key.deleted", 3),
    ]
