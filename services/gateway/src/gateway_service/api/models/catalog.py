"""The catalog's Hetzner shapes (locations, datacenters, server types with their prices, images)
and their mapping from compute's protobuf; the catalog routes, the servers and the load
balancer types answer them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from cpshared.errors import NotFound
from gateway_service.api.common import MAX_ID
from gateway_service.clients.backends import backends
from gateway_service.price_list import NetGross, PriceList, decimal_string

T = TypeVar("T")


class Money(BaseModel):
    net: str = Field(description="Price without VAT, decimal string.")
    gross: str = Field(description="Price with VAT, decimal string.")


class ServerTypePrice(BaseModel):
    location: str
    price_hourly: Money
    price_monthly: Money
    included_traffic: int = Field(description="Free traffic per month in bytes (billing's traffic plan).")
    price_per_tb_traffic: Money


class ServerTypeLocation(BaseModel):
    id: int
    name: str
    deprecation: None = None
    available: bool
    recommended: bool


class ServerTypeOut(BaseModel):
    id: int
    name: str = Field(description='Unique name, e.g. "cx22".')
    description: str
    category: str
    cores: int
    memory: float = Field(description="Memory in GB.")
    disk: int = Field(description="Disk in GB.")
    deprecated: bool
    deprecation: None = None
    prices: list[ServerTypePrice]
    storage_type: Literal["local", "network"]
    cpu_type: Literal["shared", "dedicated"]
    architecture: Literal["x86", "arm"]
    locations: list[ServerTypeLocation]


class LocationOut(BaseModel):
    id: int
    name: str
    description: str
    country: str
    city: str
    latitude: float
    longitude: float
    network_zone: str


class DatacenterServerTypes(BaseModel):
    supported: list[int]
    available: list[int]
    available_for_migration: list[int]


class DatacenterOut(BaseModel):
    id: int
    name: str
    description: str
    location: LocationOut
    server_types: DatacenterServerTypes


class ImageCreatedFrom(BaseModel):
    id: int
    name: str


class ImageProtection(BaseModel):
    delete: bool


OS_FLAVORS = ("alma", "centos", "debian", "fedora", "opensuse", "rocky", "ubuntu", "unknown")


OsFlavor = Literal["alma", "centos", "debian", "fedora", "opensuse", "rocky", "ubuntu", "unknown"]


ImageType = Literal["system", "app", "snapshot", "backup"]


ImageStatus = Literal["available", "creating", "unavailable"]


class ImageOut(BaseModel):
    id: int
    type: ImageType
    status: ImageStatus
    name: str | None
    description: str
    image_size: float | None = Field(description="Size of the image file in GB; null when unknown.")
    disk_size: float = Field(description="Smallest disk it fits, in GB.")
    created: datetime
    created_from: ImageCreatedFrom | None = None
    bound_to: int | None = None
    os_flavor: OsFlavor
    os_version: str | None
    rapid_deploy: bool
    protection: ImageProtection
    deprecated: datetime | None
    deleted: None = None
    labels: dict[str, str]
    architecture: Literal["x86", "arm"]


def money_of(price: NetGross) -> Money:
    return Money(net=price.net, gross=price.gross)


def money(gross: Decimal, prices: PriceList) -> Money:
    """A gross price with its net, without the VAT billing says the platform's prices include."""
    return money_of(prices.money(gross))


ZERO = Money(net=decimal_string(Decimal(0)), gross=decimal_string(Decimal(0)))


def _decimal(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def location_out(dc: pb.Datacenter) -> LocationOut:
    return LocationOut(
        id=dc.id,
        name=dc.code,
        description=dc.name,
        country=dc.country,
        city=dc.city,
        latitude=float(_decimal(dc.latitude)),
        longitude=float(_decimal(dc.longitude)),
        network_zone=dc.network_zones[0] if dc.network_zones else "",
    )


def datacenter_name(dc: pb.Datacenter) -> str:
    return f"{dc.code}-dc1"


def offered_in(st: pb.ServerType, dc: pb.Datacenter) -> bool:
    return st.available and dc.code in st.supported_datacenters


def datacenter_out(dc: pb.Datacenter, server_types: Sequence[pb.ServerType]) -> DatacenterOut:
    offered = [st.id for st in server_types if offered_in(st, dc)]
    return DatacenterOut(
        id=dc.id,
        name=datacenter_name(dc),
        description=f"{dc.name} virtual DC 1",
        location=location_out(dc),
        server_types=DatacenterServerTypes(supported=offered, available=offered, available_for_migration=offered),
    )


def per_location(
    hourly: Money, monthly: Money, locations: Sequence[pb.Datacenter], prices: PriceList
) -> list[ServerTypePrice]:
    """One price per location, with the traffic included and its price beyond (billing's traffic plan)."""
    traffic = money_of(prices.price_per_tb_traffic)
    return [
        ServerTypePrice(
            location=dc.code,
            price_hourly=hourly,
            price_monthly=monthly,
            included_traffic=prices.included_traffic,
            price_per_tb_traffic=traffic,
        )
        for dc in locations
    ]


def server_type_prices(
    st: pb.ServerType, datacenters: Sequence[pb.Datacenter], prices: PriceList
) -> list[ServerTypePrice]:
    hourly, monthly = money(_decimal(st.price_hourly), prices), money(_decimal(st.price_monthly), prices)
    return per_location(hourly, monthly, [dc for dc in datacenters if offered_in(st, dc)], prices)


def server_type_out(st: pb.ServerType, datacenters: Sequence[pb.Datacenter], prices: PriceList) -> ServerTypeOut:
    offered = [dc for dc in datacenters if offered_in(st, dc)]
    return ServerTypeOut(
        id=st.id,
        name=st.code,
        description=st.name,
        category=st.category,
        cores=st.cpu_cores,
        memory=float(_decimal(st.memory_gb)),
        disk=st.disk_gb,
        deprecated=False,
        prices=server_type_prices(st, datacenters, prices),
        storage_type="local" if st.disk_type == "nvme" else "network",
        cpu_type="dedicated" if st.cpu_type == "dedicated" else "shared",
        architecture="arm" if st.architecture == "arm" else "x86",
        locations=[
            ServerTypeLocation(id=dc.id, name=dc.code, available=True, recommended=index == 0)
            for index, dc in enumerate(offered)
        ],
    )


def image_out(image: pb.Image) -> ImageOut:
    deprecated = image.deprecated_at.ToDatetime(tzinfo=UTC) if image.HasField("deprecated_at") else None
    if deprecated is None and image.status == "deprecated":
        deprecated = image.created_at.ToDatetime(tzinfo=UTC)
    flavor = image.os_flavor if image.os_flavor in OS_FLAVORS else "unknown"
    return ImageOut(
        id=image.id,
        type=IMAGE_TYPES.get(image.type, "snapshot"),
        status="creating" if image.status == "creating" else "available",
        name=image.name or None,
        description=image.description,
        image_size=float(image.size_gb) if image.size_gb else None,
        disk_size=image.disk_size or image.min_disk_size,
        created_from=ImageCreatedFrom(id=image.created_from_server_id, name=image.created_from_server_name)
        if image.created_from_server_id
        else None,
        bound_to=image.created_from_server_id if image.type == "backup" and image.created_from_server_id else None,
        created=image.created_at.ToDatetime(tzinfo=UTC),
        os_flavor=flavor,  # type: ignore[arg-type]  # checked against OS_FLAVORS just above
        os_version=image.os_version or None,
        rapid_deploy=image.rapid_deploy,
        protection=ImageProtection(delete=image.protection_delete),
        deprecated=deprecated,
        labels=dict(image.labels),
        architecture="arm" if image.architecture == "arm" else "x86",
    )


async def active_datacenters(request: Request) -> list[pb.Datacenter]:
    return [dc for dc in await backends(request).compute.datacenters() if dc.status != "deprecated"]


def one_by_id(items: Sequence[T], wanted: int, ident: Callable[[T], int], what: str) -> T:
    for item in items:
        if ident(item) == wanted:
            return item
    raise NotFound(f"{what} {wanted} does not exist")


Id = Annotated[int, Path(ge=1, le=MAX_ID)]


Name = Annotated[str | None, Query(max_length=255, description="Only the one with this name.")]


PageParam = Annotated[str | None, Query(description="Page number, from 1.")]


PerPageParam = Annotated[str | None, Query(description="Entries per page, 1 to 50 (more is served as 50).")]


IMAGE_TYPES: dict[str, ImageType] = {
    "system": "system",
    "snapshot": "snapshot",
    "backup": "backup",
    "custom": "snapshot",
}


class LoadBalancerTypeOut(BaseModel):
    id: int
    name: str = Field(description='Unique name, e.g. "lb11".')
    description: str
    max_connections: int
    max_services: int
    max_targets: int
    max_assigned_certificates: int
    deprecated: datetime | None = Field(description="When it was deprecated; null when it is not.")
    prices: list[ServerTypePrice]


def load_balancer_type_out(
    lt: pb.LoadBalancerType, datacenters: Sequence[pb.Datacenter], prices: PriceList
) -> LoadBalancerTypeOut:
    """A type with billing's prices of its plan (``lt.code``) in each platform location upstream offers it in."""
    priced = prices.load_balancer(lt.code)
    assert priced is not None, "only types with a plan are offered (_offered)"
    offered_in = [dc for dc in datacenters if dc.code in lt.upstream_datacenters]
    return LoadBalancerTypeOut(
        id=lt.id,
        name=lt.code,
        description=lt.description,
        max_connections=lt.max_connections,
        max_services=lt.max_services,
        max_targets=lt.max_targets,
        max_assigned_certificates=lt.max_assigned_certificates,
        deprecated=lt.deprecated_at.ToDatetime(tzinfo=UTC) if lt.HasField("deprecated_at") else None,
        prices=per_location(money_of(priced[0]), money_of(priced[1]), offered_in, prices),
    )
