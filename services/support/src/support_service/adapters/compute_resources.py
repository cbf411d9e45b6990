"""Whose a customer's resource is, asked of compute over gRPC as support itself (a service
principal reaches every tenant's resource; support compares the owner with the ticket's opener:
domain/tickets.py ``check_related_owner``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from cloudplatform.compute.v1 import placement_group_service_pb2 as ppb
from cloudplatform.compute.v1 import placement_group_service_pb2_grpc as ppb_grpc
from cloudplatform.compute.v1 import server_service_pb2 as spb
from cloudplatform.compute.v1 import server_service_pb2_grpc as spb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from support_service import SERVICE_NAME

Call = Callable[[aio.Channel, tuple[tuple[str, str], ...]], Any]


def _server(resource_id: int) -> Call:
    request = spb.GetServerRequest(server_id=resource_id)
    return lambda ch, md: spb_grpc.ServerServiceStub(ch).GetServer(request, metadata=md)


def _placement_group(resource_id: int) -> Call:
    request = ppb.GetPlacementGroupRequest(placement_group_id=resource_id)
    return lambda ch, md: ppb_grpc.PlacementGroupServiceStub(ch).GetPlacementGroup(request, metadata=md)


def _ssh_key(resource_id: int) -> Call:
    request = cpb.GetSshKeyRequest(ssh_key_id=resource_id)
    return lambda ch, md: cpb_grpc.ComputeServiceStub(ch).GetSshKey(request, metadata=md)


ASK: dict[str, tuple[Callable[[int], Call], str]] = {
    "server": (_server, "server"),
    "placement_group": (_placement_group, "placement_group"),
    "ssh_key": (_ssh_key, "ssh_key"),
}
"""Per resource type: the call, and the answer's field holding the resource."""


class ComputeResourceOwners:
    def __init__(self, address: str, service_key_file: str) -> None:
        self._client = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="compute")

    def owner(self, resource_type: str, resource_id: int) -> tuple[int, int | None] | None:
        if resource_type not in ASK:
            return None
        call, field = ASK[resource_type]
        try:
            answer = self._client.call(call(resource_id))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"compute could not answer: {exc.code().name} {exc.details()}") from None
        found = getattr(answer, field)
        return int(found.user_id), int(found.organization_id) or None

    def close(self) -> None:
        self._client.close()


class Unconfigured:
    """Where support was not told how to reach identity or compute: what needs them is refused
    as unavailable (tickets without a related resource or an assignee are not)."""

    def __init__(self, what: str) -> None:
        self._what = what

    def owner(self, resource_type: str, resource_id: int) -> tuple[int, int | None] | None:
        raise Unavailable(f"support cannot check {resource_type} {resource_id}: {self._what}")

    def role(self, user_id: int) -> str | None:
        raise Unavailable(f"support cannot check user {user_id}: {self._what}")
