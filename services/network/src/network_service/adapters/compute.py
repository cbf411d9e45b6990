"""Compute's servers and locations over gRPC, as network's service principal (which reaches
every tenant's server: network itself checks the tenant)."""

from __future__ import annotations

import threading

import grpc
from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from cloudplatform.compute.v1 import server_service_pb2 as spb
from cloudplatform.compute.v1 import server_service_pb2_grpc as spb_grpc
from cpshared.errors import Unavailable
from cpshared.grpc.service_client import ServiceChannel
from network_service import SERVICE_NAME
from network_service.domain.floating_ips import LocationRef, ServerRef
from network_service.domain.load_balancers import LoadBalancerType
from network_service.service_layer.ports import Compute, LoadBalancerTypes

GONE = ("deleting", "deleted")


class ComputeClient(Compute, LoadBalancerTypes):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._compute = ServiceChannel(address, service_key_file, caller=SERVICE_NAME, callee="compute")
        self._locations: dict[str, LocationRef] = {}
        self._lock = threading.Lock()

    def server(self, server_id: int) -> ServerRef | None:
        request = spb.GetServerRequest(server_id=server_id)
        try:
            answer = self._compute.call(lambda ch, md: spb_grpc.ServerServiceStub(ch).GetServer(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(f"compute could not answer for server {server_id}: {exc.code().name}") from None
        server = answer.server
        location = self.location(server.datacenter)
        return ServerRef(
            id=server.id,
            user_id=server.user_id,
            organization_id=server.organization_id or None,
            location=server.datacenter,
            network_zone=location.network_zone if location is not None else "",
            live=server.status not in GONE,
            status=server.status,
        )

    def _load(self) -> dict[str, LocationRef]:
        with self._lock:
            if not self._locations:
                try:
                    answer = self._compute.call(
                        lambda ch, md: cpb_grpc.ComputeServiceStub(ch).ListDatacenters(
                            cpb.ListDatacentersRequest(), metadata=md
                        )
                    )
                except aio.AioRpcError as exc:
                    raise Unavailable(f"compute could not list its locations: {exc.code().name}") from None
                self._locations = {
                    dc.code: LocationRef(dc.id, dc.code, dc.network_zones[0] if dc.network_zones else "")
                    for dc in answer.datacenters
                }
            return self._locations

    def location(self, code: str) -> LocationRef | None:
        return self._load().get(code)

    def location_by_id(self, location_id: int) -> LocationRef | None:
        return next((loc for loc in self._load().values() if loc.id == location_id), None)

    def locations(self) -> list[LocationRef]:
        return sorted(self._load().values(), key=lambda loc: loc.id)

    def load_balancer_type(self, code: str) -> LoadBalancerType | None:
        """The available load balancer type of compute's catalog named ``code`` (or its id, as digits)."""
        try:
            answer = self._compute.call(
                lambda ch, md: cpb_grpc.ComputeServiceStub(ch).ListLoadBalancerTypes(
                    cpb.ListLoadBalancerTypesRequest(), metadata=md
                )
            )
        except aio.AioRpcError as exc:
            raise Unavailable(f"compute could not list its load balancer types: {exc.code().name}") from None
        for lt in answer.load_balancer_types:
            if lt.available and (lt.code == code or (code.isdigit() and lt.id == int(code))):
                return LoadBalancerType(
                    id=lt.id,
                    code=lt.code,
                    description=lt.description,
                    max_services=lt.max_services,
                    max_targets=lt.max_targets,
                    max_connections=lt.max_connections,
                    max_assigned_certificates=lt.max_assigned_certificates,
                )
        return None

    def close(self) -> None:
        self._compute.close()
