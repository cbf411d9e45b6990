"""Compute's servers and datacenters over gRPC, as storage's use cases need them, called as the
storage service itself (a service principal reaches every server; storage checks the tenant)."""

from __future__ import annotations

import grpc
from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from cloudplatform.compute.v1 import server_service_pb2 as spb
from cloudplatform.compute.v1 import server_service_pb2_grpc as spb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from storage_service import SERVICE_NAME
from storage_service.domain.volumes import ServerInfo
from storage_service.service_layer.ports import Servers

GONE = frozenset({"deleting", "deleted"})


class ComputeServers(Servers):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._channel = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="compute")

    def server(self, server_id: int) -> ServerInfo | None:
        try:
            request = spb.GetServerRequest(server_id=server_id)
            answer = self._channel.call(lambda ch, md: spb_grpc.ServerServiceStub(ch).GetServer(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(
                f"compute could not answer server {server_id}: {exc.code().name} {exc.details()}"
            ) from None
        server = answer.server
        return ServerInfo(
            id=server.id,
            user_id=server.user_id,
            organization_id=server.organization_id or None,
            location=server.datacenter,
            live=server.status not in GONE,
        )

    def datacenter_id(self, location: str) -> int | None:
        try:
            answer = self._channel.call(
                lambda ch, md: cpb_grpc.ComputeServiceStub(ch).ListDatacenters(
                    cpb.ListDatacentersRequest(), metadata=md
                )
            )
        except aio.AioRpcError as exc:
            raise Unavailable(f"compute could not list its datacenters: {exc.code().name} {exc.details()}") from None
        return next((dc.id for dc in answer.datacenters if dc.code == location), None)

    def close(self) -> None:
        self._channel.close()
