"""The catalog, wire-compatible with Hetzner Cloud's: ``/v1/server_types``, ``/v1/locations``,
``/v1/datacenters``, ``/v1/images`` (each with ``/{id}``) and ``/v1/pricing``, read from the
compute service's catalog with the PLATFORM's prices and availability, not upstream's.

How the platform's catalog maps onto Hetzner's shapes (the one place for it):

- A platform datacenter (the seed's ``fsn1`` … ``hil``) is a Hetzner *location* (same id,
  ``name`` = its code, ``description`` = its name) and also the one Hetzner *datacenter* in
  that location (same id, ``name`` ``<code>-dc1``). Deprecated datacenters are left out.
- Only server types the platform offers (``available``) are shown, each with the locations
  it is offered in (``supported_datacenters``) and a price per such location. The platform
  keeps one gross EUR price per type, the same in every location; ``net`` is it without
  the VAT of :data:`VAT_RATE`. Traffic is not billed yet: ``included_traffic`` 0 and
  ``price_per_tb_traffic`` 0. Prices are Hetzner's decimal strings (``"0.0000000000"``, never
  an exponent); counts and sizes Hetzner's clients decode as integers (``disk``) are integers.
- ``/v1/pricing`` lists those server types; products the platform does not sell yet
  (floating and primary IPs, load balancers) are empty lists, and the single prices the
  spec requires for them (floating IP, image, volume) are 0; backups cost
  :data:`cpshared.prices.BACKUP_PERCENT` of the server's price.
- Images: the ones compute lets the caller use: the public system images and the caller's
  tenant's own snapshots (``POST /v1/servers/{id}/actions/create_image``), ``type`` and
  ``status`` in Hetzner's words (``custom`` is a ``snapshot``; a ``deprecated`` image is
  ``available`` with its ``deprecated`` time and listed only with ``include_deprecated``).
  System images have no labels, so a ``label_selector`` matches them as label-less. Own
  snapshots can be renamed (``PUT /v1/images/{id}``: description, labels) and deleted
  (``DELETE /v1/images/{id}``; scope ``images:write``; ``423 protected`` while protected:
  api/images.py has the protection and the image actions); another tenant's are ``404``.
- ISOs (``/v1/isos``): upstream's public ISOs as compute reads them through (cached there),
  with upstream's ids — the ids and names ``attach_iso`` takes.

Every authenticated principal may read the catalog; an API key needs the read scope of the
family it reads: ``server_types``, ``locations``, ``datacenters``, ``images``, ``isos``, ``pricing``.
Lists are small, so filters, sorting and paging happen here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from cpshared import prices
from cpshared.errors import NotFound
from gateway_service.api.admin import Meta
from gateway_service.auth import policy
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.clients.compute import ComputeClient
from gateway_service.clients.servers import ServerClient
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import link_header, paginate, parse_page_request
from hetzner_conventions.sorting import SortKey, parse_sort

router = APIRouter(tags=["catalog"])

VAT_RATE = Decimal("19")
"""The VAT (percent) in the platform's gross prices: German VAT, as the platform sells from Germany."""
CURRENCY = "EUR"
PRICE_PLACES = Decimal("0.0000000001")  # Hetzner shows prices with ten decimal places
MAX_ID = 2**63 - 1
T = TypeVar("T")

# -- answers ----------------------------------------------------------------------------------


class Money(BaseModel):
    net: str = Field(description="Price without VAT, decimal string.")
    gross: str = Field(description="Price with VAT, decimal string.")


class ServerTypePrice(BaseModel):
    location: str
    price_hourly: Money
    price_monthly: Money
    included_traffic: int = Field(description="Free traffic per month in bytes (the platform bills none yet).")
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


class IsoDeprecation(BaseModel):
    announced: datetime
    unavailable_after: datetime


class IsoEntry(BaseModel):
    id: int
    name: str | None
    description: str
    type: Literal["public", "private"] | None
    architecture: Literal["x86", "arm"] | None = Field(description="null: it fits every architecture.")
    deprecation: IsoDeprecation | None


class IsosAnswer(BaseModel):
    isos: list[IsoEntry]
    meta: Meta


class IsoAnswer(BaseModel):
    iso: IsoEntry


class ServerTypesAnswer(BaseModel):
    server_types: list[ServerTypeOut]
    meta: Meta


class ServerTypeAnswer(BaseModel):
    server_type: ServerTypeOut


class LocationsAnswer(BaseModel):
    locations: list[LocationOut]
    meta: Meta


class LocationAnswer(BaseModel):
    location: LocationOut


class DatacentersAnswer(BaseModel):
    datacenters: list[DatacenterOut]
    recommendation: int = Field(description="ID of the datacenter recommended for new servers.")
    meta: Meta


class DatacenterAnswer(BaseModel):
    datacenter: DatacenterOut


class ImagesAnswer(BaseModel):
    images: list[ImageOut]
    meta: Meta


class ImageAnswer(BaseModel):
    image: ImageOut


class PricePerGb(BaseModel):
    price_per_gb_month: Money


class MonthlyPrice(BaseModel):
    price_monthly: Money


class ServerBackupPrice(BaseModel):
    percentage: str


class ServerTypePricing(BaseModel):
    id: int
    name: str
    prices: list[ServerTypePrice]


class PricingOut(BaseModel):
    currency: str
    vat_rate: str
    image: PricePerGb
    floating_ip: MonthlyPrice
    floating_ips: list[dict[str, Any]]
    primary_ips: list[dict[str, Any]]
    server_backup: ServerBackupPrice
    volume: PricePerGb
    load_balancer_types: list[dict[str, Any]]
    server_types: list[ServerTypePricing]


class PricingAnswer(BaseModel):
    pricing: PricingOut


# -- mapping ----------------------------------------------------------------------------------


def decimal_string(value: Decimal, places: Decimal = PRICE_PLACES) -> str:
    """Hetzner's decimal string: fixed point with ``places`` (``"0.0000000000"``, never ``"0E-10"``)."""
    return format(value.quantize(places, rounding=ROUND_HALF_UP), "f")


def money(gross: Decimal) -> Money:
    net = gross * 100 / (100 + VAT_RATE)
    return Money(net=decimal_string(net), gross=decimal_string(gross))


ZERO = money(Decimal(0))


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


def server_type_prices(st: pb.ServerType, datacenters: Sequence[pb.Datacenter]) -> list[ServerTypePrice]:
    hourly, monthly = money(_decimal(st.price_hourly)), money(_decimal(st.price_monthly))
    return [
        ServerTypePrice(
            location=dc.code, price_hourly=hourly, price_monthly=monthly, included_traffic=0, price_per_tb_traffic=ZERO
        )
        for dc in datacenters
        if offered_in(st, dc)
    ]


def server_type_out(st: pb.ServerType, datacenters: Sequence[pb.Datacenter]) -> ServerTypeOut:
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
        prices=server_type_prices(st, datacenters),
        storage_type="local" if st.disk_type == "nvme" else "network",
        cpu_type="dedicated" if st.cpu_type == "dedicated" else "shared",
        architecture="arm" if st.architecture == "arm" else "x86",
        locations=[
            ServerTypeLocation(id=dc.id, name=dc.code, available=True, recommended=index == 0)
            for index, dc in enumerate(offered)
        ],
    )


IMAGE_TYPES: dict[str, ImageType] = {
    "system": "system",
    "snapshot": "snapshot",
    "backup": "backup",
    "custom": "snapshot",
}


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


def iso_out(iso: pb.Iso) -> IsoEntry:
    deprecation = None
    if iso.HasField("deprecation_announced") and iso.HasField("unavailable_after"):
        deprecation = IsoDeprecation(
            announced=iso.deprecation_announced.ToDatetime(tzinfo=UTC),
            unavailable_after=iso.unavailable_after.ToDatetime(tzinfo=UTC),
        )
    return IsoEntry(
        id=iso.id,
        name=iso.name or None,
        description=iso.description,
        type="private" if iso.type == "private" else "public",
        architecture="arm" if iso.architecture == "arm" else "x86" if iso.architecture == "x86" else None,
        deprecation=deprecation,
    )


# -- helpers ----------------------------------------------------------------------------------


def compute_client(request: Request) -> ComputeClient:
    client: ComputeClient = request.app.state.compute
    return client


async def _datacenters(request: Request) -> list[pb.Datacenter]:
    return [dc for dc in await compute_client(request).datacenters() if dc.status != "deprecated"]


async def _server_types(request: Request) -> list[pb.ServerType]:
    return [st for st in await compute_client(request).server_types() if st.available]


def _sorted(items: list[T], keys: Sequence[SortKey], value: Callable[[T, str], Any]) -> list[T]:
    for key in reversed(keys):  # stable sorts, last key first
        items.sort(key=lambda item: value(item, key.field), reverse=key.descending)
    return items


def _page(
    request: Request, response: Response, items: list[T], page: str | None, per_page: str | None
) -> tuple[list[T], Meta]:
    page_request = parse_page_request(page, per_page)
    pagination = paginate(page_request, len(items))
    link = link_header(request.url, pagination)
    if link:
        response.headers["Link"] = link
    return items[page_request.offset : page_request.offset + page_request.limit], Meta.of(pagination)


def _one(items: Sequence[T], wanted: int, ident: Callable[[T], int], what: str) -> T:
    for item in items:
        if ident(item) == wanted:
            return item
    raise NotFound(f"{what} {wanted} does not exist")


def _read(principal: Principal, family: Family) -> None:
    policy.require_scope(principal, family, Access.READ)


Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str | None, Query(max_length=255, description="Only the one with this name.")]
Sort = Annotated[list[str] | None, Query(description="id or name, optionally :asc or :desc.")]
PageParam = Annotated[str | None, Query(description="Page number, from 1.")]
PerPageParam = Annotated[str | None, Query(description="Entries per page, 1 to 50 (more is served as 50).")]


# -- routes -----------------------------------------------------------------------------------


@router.get("/v1/server_types")
async def list_server_types(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> ServerTypesAnswer:
    """The server types the platform offers, with its prices per location."""
    _read(principal, Family.SERVER_TYPES)
    datacenters = await _datacenters(request)
    found = [st for st in await _server_types(request) if name is None or st.code == name]
    chosen, meta = _page(request, response, found, page, per_page)
    return ServerTypesAnswer(server_types=[server_type_out(st, datacenters) for st in chosen], meta=meta)


@router.get("/v1/server_types/{id}")
async def get_server_type(request: Request, principal: Authenticated, id: Id) -> ServerTypeAnswer:
    """One server type the platform offers."""
    _read(principal, Family.SERVER_TYPES)
    st = _one(await _server_types(request), id, lambda s: s.id, "server type")
    return ServerTypeAnswer(server_type=server_type_out(st, await _datacenters(request)))


@router.get("/v1/locations")
async def list_locations(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    sort: Sort = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> LocationsAnswer:
    """The locations servers can run in."""
    _read(principal, Family.LOCATIONS)
    keys = parse_sort(sort or [], ("id", "name"))
    found = [dc for dc in await _datacenters(request) if name is None or dc.code == name]
    found = _sorted(found, keys, lambda dc, field: dc.id if field == "id" else dc.code)
    chosen, meta = _page(request, response, found, page, per_page)
    return LocationsAnswer(locations=[location_out(dc) for dc in chosen], meta=meta)


@router.get("/v1/locations/{id}")
async def get_location(request: Request, principal: Authenticated, id: Id) -> LocationAnswer:
    """One location."""
    _read(principal, Family.LOCATIONS)
    return LocationAnswer(location=location_out(_one(await _datacenters(request), id, lambda d: d.id, "location")))


@router.get("/v1/datacenters")
async def list_datacenters(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    sort: Sort = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> DatacentersAnswer:
    """The datacenters, each with the server types offered in it."""
    _read(principal, Family.DATACENTERS)
    keys = parse_sort(sort or [], ("id", "name"))
    every = await _datacenters(request)
    server_types = await _server_types(request)
    found = [dc for dc in every if name is None or datacenter_name(dc) == name]
    found = _sorted(found, keys, lambda dc, field: dc.id if field == "id" else datacenter_name(dc))
    chosen, meta = _page(request, response, found, page, per_page)
    # Recommended: the first active datacenter (the seed's order puts Falkenstein first).
    active = [dc for dc in every if dc.status == "active"] or every
    return DatacentersAnswer(
        datacenters=[datacenter_out(dc, server_types) for dc in chosen],
        recommendation=active[0].id if active else 0,
        meta=meta,
    )


@router.get("/v1/datacenters/{id}")
async def get_datacenter(request: Request, principal: Authenticated, id: Id) -> DatacenterAnswer:
    """One datacenter."""
    _read(principal, Family.DATACENTERS)
    dc = _one(await _datacenters(request), id, lambda d: d.id, "datacenter")
    return DatacenterAnswer(datacenter=datacenter_out(dc, await _server_types(request)))


def _image_value(image: ImageOut, field: str) -> Any:
    return {"id": image.id, "name": image.name or "", "created": image.created}[field]


@router.get("/v1/images")
async def list_images(
    request: Request,
    response: Response,
    principal: Authenticated,
    type: Annotated[list[ImageType] | None, Query()] = None,
    status: Annotated[list[ImageStatus] | None, Query()] = None,
    bound_to: Annotated[list[str] | None, Query(description="Server IDs; images here are bound to none.")] = None,
    include_deprecated: bool = False,
    name: Name = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    architecture: Annotated[Literal["x86", "arm"] | None, Query()] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> ImagesAnswer:
    """The images the caller may use, matching every filter given."""
    _read(principal, Family.IMAGES)
    keys = parse_sort(sort or [], ("id", "name", "created"))
    selector = parse_label_selector(label_selector)
    images = [image_out(image) for image in await _usable_images(request, principal)]
    found = [
        image
        for image in images
        if (not type or image.type in type)
        and (not status or image.status in status)
        and not bound_to
        and (include_deprecated or image.deprecated is None)
        and (name is None or image.name == name)
        and (architecture is None or image.architecture == architecture)
        and selector.matches(image.labels)
    ]
    chosen, meta = _page(request, response, _sorted(found, keys, _image_value), page, per_page)
    return ImagesAnswer(images=chosen, meta=meta)


@router.get("/v1/images/{id:int}")
async def get_image(request: Request, principal: Authenticated, id: Id) -> ImageAnswer:
    """One image the caller may use (deprecated ones too)."""
    _read(principal, Family.IMAGES)
    image = _one(await _usable_images(request, principal), id, lambda i: i.id, "image")
    return ImageAnswer(image=image_out(image))


@router.get("/v1/isos")
async def list_isos(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    architecture: Annotated[
        list[Literal["x86", "arm"]] | None, Query(description="Only ISOs for these architectures.")
    ] = None,
    include_architecture_wildcard: Annotated[
        bool, Query(description="With architecture: also the ISOs that fit every architecture.")
    ] = False,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> IsosAnswer:
    """The ISOs that can be attached to a server (upstream's public ones), by id."""
    _read(principal, Family.ISOS)
    found = [
        iso
        for iso in map(iso_out, await compute_client(request).isos())
        if (name is None or iso.name == name)
        and (
            not architecture
            or iso.architecture in architecture
            or (include_architecture_wildcard and iso.architecture is None)
        )
    ]
    found.sort(key=lambda iso: iso.id)
    chosen, meta = _page(request, response, found, page, per_page)
    return IsosAnswer(isos=chosen, meta=meta)


@router.get("/v1/isos/{id}")
async def get_iso(request: Request, principal: Authenticated, id: Id) -> IsoAnswer:
    """One ISO."""
    _read(principal, Family.ISOS)
    return IsoAnswer(iso=iso_out(_one(await compute_client(request).isos(), id, lambda i: i.id, "ISO")))


class ImageUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str | None = Field(default=None, max_length=1000)
    labels: dict[str, str] | None = None


async def _own_image(request: Request, principal: Principal, id: int) -> pb.Image:
    """One of the caller's tenant's snapshots (a system image cannot be changed: 404 here too)."""
    return _one(await _own_images(request, principal), id, lambda i: i.id, "image")


@router.put("/v1/images/{id:int}")
async def update_image(request: Request, principal: Authenticated, id: Id, body: ImageUpdate) -> ImageAnswer:
    """Change one of the tenant's snapshots: its description and labels."""
    policy.require_scope(principal, Family.IMAGES, Access.WRITE)
    await _own_image(request, principal, id)
    image = await _server_client(request).update_image(
        id, principal.organization_id or 0, description=body.description, labels=body.labels
    )
    return ImageAnswer(image=image_out(image))


@router.delete("/v1/images/{id:int}", status_code=204)
async def delete_image(request: Request, principal: Authenticated, id: Id) -> Response:
    """Delete one of the tenant's snapshots."""
    policy.require_scope(principal, Family.IMAGES, Access.WRITE)
    await _own_image(request, principal, id)
    await _server_client(request).delete_image(id, principal.organization_id or 0)
    return Response(status_code=204)


def _server_client(request: Request) -> ServerClient:
    client: ServerClient = request.app.state.servers
    return client


async def _own_images(request: Request, principal: Principal) -> list[pb.Image]:
    return await _server_client(request).own_images(principal.user_id, principal.organization_id or 0)


async def _usable_images(request: Request, principal: Principal) -> list[pb.Image]:
    """The public system images and the caller's tenant's own snapshots."""
    return [*await compute_client(request).images(), *await _own_images(request, principal)]


@router.get("/v1/pricing")
async def get_pricing(request: Request, principal: Authenticated) -> PricingAnswer:
    """The platform's prices: its server types per location, net and gross."""
    _read(principal, Family.PRICING)
    datacenters = await _datacenters(request)
    server_types = await _server_types(request)
    return PricingAnswer(
        pricing=PricingOut(
            currency=CURRENCY,
            vat_rate=decimal_string(VAT_RATE, Decimal("0.000001")),
            image=PricePerGb(price_per_gb_month=ZERO),
            floating_ip=MonthlyPrice(price_monthly=ZERO),
            floating_ips=[],
            primary_ips=[],
            server_backup=ServerBackupPrice(percentage=decimal_string(prices.BACKUP_PERCENT)),
            volume=PricePerGb(price_per_gb_month=ZERO),
            load_balancer_types=[],
            server_types=[
                ServerTypePricing(id=st.id, name=st.code, prices=server_type_prices(st, datacenters))
                for st in server_types
            ],
        )
    )
