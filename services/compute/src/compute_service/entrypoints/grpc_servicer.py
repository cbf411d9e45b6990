"""The ComputeService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

Authorization is from the verified principal (adapters/authorization.py): the catalog is
open to every principal; prices, availability and syncs are for admins and services; SSH
keys are reached by their tenant (and admins and services), another tenant's answers NOT_FOUND.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from cloudplatform.compute.v1 import compute_service_pb2_grpc as pb_grpc
from compute_service.adapters import authorization as authz
from compute_service.bootstrap import Compute
from compute_service.domain.catalog import Datacenter, Image, ServerType, UpstreamIso
from compute_service.domain.load_balancer_types import LoadBalancerType
from compute_service.domain.ssh_keys import SshKey
from compute_service.service_layer import catalog, ssh_keys
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts

Context = aio.ServicerContext[Any, Any]
SORTABLE = ("id", "name", "created")
MAX_PER_PAGE = 50


def decimal_text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def datacenter_message(dc: Datacenter) -> pb.Datacenter:
    return pb.Datacenter(
        id=dc.id,
        code=dc.code,
        name=dc.name,
        city=dc.city,
        country=dc.country,
        continent=dc.continent,
        latitude=decimal_text(dc.latitude),
        longitude=decimal_text(dc.longitude),
        status=dc.status,
        network_zones=dc.network_zones,
    )


def server_type_message(st: ServerType) -> pb.ServerType:
    return pb.ServerType(
        id=st.id,
        code=st.code,
        name=st.name,
        category=st.category,
        cpu_type=st.cpu_type,
        cpu_cores=st.cpu_cores,
        memory_gb=str(st.memory_gb),
        disk_gb=st.disk_gb,
        disk_type=st.disk_type,
        network_speed_gbps=str(st.network_speed_gbps),
        price_hourly=str(st.price_hourly),
        price_monthly=str(st.price_monthly),
        available=st.available,
        supported_datacenters=st.supported_datacenters,
        upstream_datacenters=st.upstream_datacenters,
        architecture=st.architecture,
        hetzner_id=st.hetzner_id,
        created_at=_ts(st.created_at),
    )


def load_balancer_type_message(lt: LoadBalancerType) -> pb.LoadBalancerType:
    return pb.LoadBalancerType(
        id=lt.id,
        code=lt.code,
        description=lt.description,
        max_connections=lt.max_connections,
        max_services=lt.max_services,
        max_targets=lt.max_targets,
        max_assigned_certificates=lt.max_assigned_certificates,
        price_hourly=str(lt.price_hourly),
        price_monthly=str(lt.price_monthly),
        available=lt.available,
        deprecated_at=_ts(lt.deprecated_at),
        upstream_datacenters=lt.upstream_datacenters,
    )


def iso_message(iso: UpstreamIso) -> pb.Iso:
    return pb.Iso(
        id=iso.hetzner_id,
        name=iso.name,
        description=iso.description,
        type=iso.type,
        architecture=iso.architecture or "",
        deprecation_announced=_ts(iso.deprecation_announced),
        unavailable_after=_ts(iso.unavailable_after),
    )


def image_message(image: Image) -> pb.Image:
    return pb.Image(
        id=image.id,
        hetzner_id=image.hetzner_id or 0,
        name=image.name,
        description=image.description,
        type=image.type,
        os_flavor=image.os_flavor,
        os_version=image.os_version,
        architecture=image.architecture,
        size_gb=decimal_text(image.size_gb),
        min_disk_size=image.min_disk_size,
        status=image.status,
        public=image.public,
        user_id=image.user_id or 0,
        rapid_deploy=image.rapid_deploy,
        created_at=_ts(image.created_at),
        deprecated_at=_ts(image.deprecated_at),
    )


def ssh_key_message(key: SshKey) -> pb.SshKey:
    return pb.SshKey(
        id=key.id,
        user_id=key.user_id,
        organization_id=key.organization_id or 0,
        name=key.name,
        public_key=key.public_key,
        fingerprint=key.fingerprint,
        type=key.type,
        labels=key.labels,
        created_at=_ts(key.created_at),
        updated_at=_ts(key.updated_at),
        version=key.version,
    )


def _reach(organization_id: int, ssh_key_id: int) -> ssh_keys.Reach:
    def check(key: SshKey) -> None:
        authz.ensure_reaches(key.user_id, key.organization_id, organization_id, f"SSH key {ssh_key_id}")

    return check


def sort_order(sort: list[str]) -> list[tuple[str, bool]]:
    order = []
    for raw in sort:
        field, _, direction = raw.partition(":")
        if field not in SORTABLE or direction not in ("", "asc", "desc"):
            raise InvalidInput(f"cannot sort by {raw!r}; sort by id, name or created, optionally :asc or :desc")
        order.append((field, direction == "desc"))
    return order


class ComputeServicer(pb_grpc.ComputeServiceServicer):
    def __init__(self, compute: Compute) -> None:
        self._compute = compute

    async def ListDatacenters(  # noqa: N802
        self, request: pb.ListDatacentersRequest, context: Context
    ) -> pb.ListDatacentersResponse:
        found = await asyncio.to_thread(catalog.list_datacenters, self._compute.uow())
        return pb.ListDatacentersResponse(datacenters=[datacenter_message(dc) for dc in found])

    async def ListServerTypes(  # noqa: N802
        self, request: pb.ListServerTypesRequest, context: Context
    ) -> pb.ListServerTypesResponse:
        found = await asyncio.to_thread(catalog.list_server_types, self._compute.uow())
        return pb.ListServerTypesResponse(server_types=[server_type_message(st) for st in found])

    async def ListImages(self, request: pb.ListImagesRequest, context: Context) -> pb.ListImagesResponse:  # noqa: N802
        found = await asyncio.to_thread(catalog.list_images, self._compute.uow())
        return pb.ListImagesResponse(images=[image_message(image) for image in found])

    async def ListIsos(self, request: pb.ListIsosRequest, context: Context) -> pb.ListIsosResponse:  # noqa: N802
        found = await asyncio.to_thread(self._compute.isos.list)
        return pb.ListIsosResponse(isos=[iso_message(iso) for iso in found])

    async def ListLoadBalancerTypes(  # noqa: N802
        self, request: pb.ListLoadBalancerTypesRequest, context: Context
    ) -> pb.ListLoadBalancerTypesResponse:
        found = await asyncio.to_thread(catalog.list_load_balancer_types, self._compute.uow())
        return pb.ListLoadBalancerTypesResponse(load_balancer_types=[load_balancer_type_message(lt) for lt in found])

    async def SetServerTypePrice(  # noqa: N802
        self, request: pb.SetServerTypePriceRequest, context: Context
    ) -> pb.SetServerTypePriceResponse:
        authz.require_admin("SetServerTypePrice")
        st = await asyncio.to_thread(
            catalog.set_price, request.server_type_id, request.price_hourly, request.price_monthly, self._compute.uow()
        )
        return pb.SetServerTypePriceResponse(server_type=server_type_message(st))

    async def SetServerTypeAvailability(  # noqa: N802
        self, request: pb.SetServerTypeAvailabilityRequest, context: Context
    ) -> pb.SetServerTypeAvailabilityResponse:
        authz.require_admin("SetServerTypeAvailability")
        st = await asyncio.to_thread(
            catalog.set_availability,
            request.server_type_id,
            request.datacenter_code,
            request.available,
            self._compute.uow(),
        )
        return pb.SetServerTypeAvailabilityResponse(server_type=server_type_message(st))

    async def SyncCatalog(self, request: pb.SyncCatalogRequest, context: Context) -> pb.SyncCatalogResponse:  # noqa: N802
        authz.require_admin("SyncCatalog")
        report = await asyncio.to_thread(
            lambda: catalog.sync_catalog(self._compute.catalog_source(), self._compute.uow())
        )
        return pb.SyncCatalogResponse(
            server_types_created=report.server_types_created,
            server_types_updated=report.server_types_updated,
            images_created=report.images_created,
            images_updated=report.images_updated,
        )

    async def CreateSshKey(self, request: pb.CreateSshKeyRequest, context: Context) -> pb.CreateSshKeyResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user adding the key")
        key = await asyncio.to_thread(
            ssh_keys.create,
            request.user_id,
            request.organization_id or None,
            request.name,
            request.public_key,
            dict(request.labels),
            self._compute.uow(),
        )
        return pb.CreateSshKeyResponse(ssh_key=ssh_key_message(key))

    async def ListSshKeys(self, request: pb.ListSshKeysRequest, context: Context) -> pb.ListSshKeysResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListSshKeys",
        )
        query = ssh_keys.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            fingerprint=request.fingerprint,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25,
        )
        found, total = await asyncio.to_thread(ssh_keys.search, query, self._compute.uow())
        return pb.ListSshKeysResponse(ssh_keys=[ssh_key_message(key) for key in found], total_entries=total)

    async def GetSshKey(self, request: pb.GetSshKeyRequest, context: Context) -> pb.GetSshKeyResponse:  # noqa: N802
        reach = _reach(request.organization_id, request.ssh_key_id)
        key = await asyncio.to_thread(ssh_keys.get, request.ssh_key_id, reach, self._compute.uow())
        return pb.GetSshKeyResponse(ssh_key=ssh_key_message(key))

    async def UpdateSshKey(self, request: pb.UpdateSshKeyRequest, context: Context) -> pb.UpdateSshKeyResponse:  # noqa: N802
        reach = _reach(request.organization_id, request.ssh_key_id)
        key = await asyncio.to_thread(
            ssh_keys.update,
            request.ssh_key_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.replace_labels else None,
            reach,
            self._compute.uow(),
        )
        return pb.UpdateSshKeyResponse(ssh_key=ssh_key_message(key))

    async def DeleteSshKey(self, request: pb.DeleteSshKeyRequest, context: Context) -> pb.DeleteSshKeyResponse:  # noqa: N802
        reach = _reach(request.organization_id, request.ssh_key_id)
        await asyncio.to_thread(ssh_keys.delete, request.ssh_key_id, reach, self._compute.uow())
        return pb.DeleteSshKeyResponse()


def add_compute_servicer(server: aio.Server, compute: Compute) -> list[str]:
    pb_grpc.add_ComputeServiceServicer_to_server(ComputeServicer(compute), server)
    return [pb.DESCRIPTOR.services_by_name["ComputeService"].full_name]
