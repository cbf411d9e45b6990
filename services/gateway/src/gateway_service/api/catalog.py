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
  the VAT billing says the platform's gross prices include (``ListPricingPlans``'
  ``included_tax_rate``). ``included_traffic`` and ``price_per_tb_traffic`` are billing's
  ``traffic`` plan (20 TB a month, in bytes as Hetzner counts them, and the price per TB
  beyond). Prices are Hetzner's decimal strings (``"0.0000000000"``, never an exponent);
  counts and sizes Hetzner's clients decode as integers (``disk``) are integers.
- ``/v1/pricing``: those server types; the VAT, volumes per GB, floating and primary IPv4/IPv6 and load
  balancer types from billing's active pricing plans (gateway_service/price_list.py, cached
  per process), primary IPs too (``primary_ip_ipv4``/``ipv6``); images are not billed (0);
  backups cost the ``backup`` plan's percentage of the server's price (``0`` without the plan:
  not offered).
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

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from gateway_service.api.common import Meta, one_page, sort_items
from gateway_service.api.models.catalog import (
    ZERO,
    DatacenterOut,
    Id,
    ImageOut,
    ImageStatus,
    ImageType,
    LocationOut,
    Money,
    Name,
    PageParam,
    PerPageParam,
    ServerTypeOut,
    ServerTypePrice,
    active_datacenters,
    datacenter_name,
    datacenter_out,
    image_out,
    location_out,
    money_of,
    one_by_id,
    per_location,
    server_type_out,
    server_type_prices,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.price_list import decimal_string
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(tags=["catalog"])

T = TypeVar("T")

# -- answers ----------------------------------------------------------------------------------


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


class LocationMonthlyPrice(BaseModel):
    location: str
    price_monthly: Money


class FloatingIpPricing(BaseModel):
    type: Literal["ipv4", "ipv6"]
    prices: list[LocationMonthlyPrice]


class PrimaryIpPrice(BaseModel):
    location: str
    price_hourly: Money
    price_monthly: Money


class PrimaryIpPricing(BaseModel):
    type: Literal["ipv4", "ipv6"]
    prices: list[PrimaryIpPrice]


class LoadBalancerTypePricing(BaseModel):
    id: int
    name: str
    prices: list[ServerTypePrice]


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
    floating_ips: list[FloatingIpPricing]
    primary_ips: list[PrimaryIpPricing]
    server_backup: ServerBackupPrice
    volume: PricePerGb
    load_balancer_types: list[LoadBalancerTypePricing]
    server_types: list[ServerTypePricing]


class PricingAnswer(BaseModel):
    pricing: PricingOut


# -- mapping ----------------------------------------------------------------------------------


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


async def _server_types(request: Request) -> list[pb.ServerType]:
    return [st for st in await backends(request).compute.server_types() if st.available]


Sort = Annotated[list[str] | None, Query(description="id or name, optionally :asc or :desc.")]


# -- routes -----------------------------------------------------------------------------------


@router.get("/v1/server_types")
@scope(Family.SERVER_TYPES, Access.READ)
async def list_server_types(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> ServerTypesAnswer:
    """The server types the platform offers, with its prices per location."""
    datacenters = await active_datacenters(request)
    found = [st for st in await _server_types(request) if name is None or st.code == name]
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    prices = await backends(request).prices.get()
    return ServerTypesAnswer(server_types=[server_type_out(st, datacenters, prices) for st in chosen], meta=meta)


@router.get("/v1/server_types/{id}")
@scope(Family.SERVER_TYPES, Access.READ)
async def get_server_type(request: Request, principal: Authenticated, id: Id) -> ServerTypeAnswer:
    """One server type the platform offers."""
    st = one_by_id(await _server_types(request), id, lambda s: s.id, "server type")
    prices = await backends(request).prices.get()
    return ServerTypeAnswer(server_type=server_type_out(st, await active_datacenters(request), prices))


@router.get("/v1/locations")
@scope(Family.LOCATIONS, Access.READ)
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
    keys = parse_sort(sort or [], ("id", "name"))
    found = [dc for dc in await active_datacenters(request) if name is None or dc.code == name]
    found = sort_items(found, keys, lambda dc, field: dc.id if field == "id" else dc.code)
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    return LocationsAnswer(locations=[location_out(dc) for dc in chosen], meta=meta)


@router.get("/v1/locations/{id}")
@scope(Family.LOCATIONS, Access.READ)
async def get_location(request: Request, principal: Authenticated, id: Id) -> LocationAnswer:
    """One location."""
    return LocationAnswer(
        location=location_out(one_by_id(await active_datacenters(request), id, lambda d: d.id, "location"))
    )


@router.get("/v1/datacenters")
@scope(Family.DATACENTERS, Access.READ)
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
    keys = parse_sort(sort or [], ("id", "name"))
    every = await active_datacenters(request)
    server_types = await _server_types(request)
    found = [dc for dc in every if name is None or datacenter_name(dc) == name]
    found = sort_items(found, keys, lambda dc, field: dc.id if field == "id" else datacenter_name(dc))
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    # Recommended: the first active datacenter (the seed's order puts Falkenstein first).
    active = [dc for dc in every if dc.status == "active"] or every
    return DatacentersAnswer(
        datacenters=[datacenter_out(dc, server_types) for dc in chosen],
        recommendation=active[0].id if active else 0,
        meta=meta,
    )


@router.get("/v1/datacenters/{id}")
@scope(Family.DATACENTERS, Access.READ)
async def get_datacenter(request: Request, principal: Authenticated, id: Id) -> DatacenterAnswer:
    """One datacenter."""
    dc = one_by_id(await active_datacenters(request), id, lambda d: d.id, "datacenter")
    return DatacenterAnswer(datacenter=datacenter_out(dc, await _server_types(request)))


def _image_value(image: ImageOut, field: str) -> Any:
    return {"id": image.id, "name": image.name or "", "created": image.created}[field]


@router.get("/v1/images")
@scope(Family.IMAGES, Access.READ)
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
    chosen, meta = one_page(
        request, response, sort_items(found, keys, _image_value), parse_page_request(page, per_page)
    )
    return ImagesAnswer(images=chosen, meta=meta)


@router.get("/v1/images/{id:int}")
@scope(Family.IMAGES, Access.READ)
async def get_image(request: Request, principal: Authenticated, id: Id) -> ImageAnswer:
    """One image the caller may use (deprecated ones too)."""
    image = one_by_id(await _usable_images(request, principal), id, lambda i: i.id, "image")
    return ImageAnswer(image=image_out(image))


@router.get("/v1/isos")
@scope(Family.ISOS, Access.READ)
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
    found = [
        iso
        for iso in map(iso_out, await backends(request).compute.isos())
        if (name is None or iso.name == name)
        and (
            not architecture
            or iso.architecture in architecture
            or (include_architecture_wildcard and iso.architecture is None)
        )
    ]
    found.sort(key=lambda iso: iso.id)
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    return IsosAnswer(isos=chosen, meta=meta)


@router.get("/v1/isos/{id}")
@scope(Family.ISOS, Access.READ)
async def get_iso(request: Request, principal: Authenticated, id: Id) -> IsoAnswer:
    """One ISO."""
    return IsoAnswer(iso=iso_out(one_by_id(await backends(request).compute.isos(), id, lambda i: i.id, "ISO")))


class ImageUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str | None = Field(default=None, max_length=1000)
    labels: dict[str, str] | None = None


async def _own_image(request: Request, principal: Principal, id: int) -> pb.Image:
    """One of the caller's tenant's snapshots (a system image cannot be changed: 404 here too)."""
    return one_by_id(await _own_images(request, principal), id, lambda i: i.id, "image")


@router.put("/v1/images/{id:int}")
@scope(Family.IMAGES, Access.WRITE)
async def update_image(request: Request, principal: Authenticated, id: Id, body: ImageUpdate) -> ImageAnswer:
    """Change one of the tenant's snapshots: its description and labels."""
    await _own_image(request, principal, id)
    image = await backends(request).servers.update_image(
        id, principal.organization_id or 0, description=body.description, labels=body.labels
    )
    return ImageAnswer(image=image_out(image))


@router.delete("/v1/images/{id:int}", status_code=204)
@scope(Family.IMAGES, Access.WRITE)
async def delete_image(request: Request, principal: Authenticated, id: Id) -> Response:
    """Delete one of the tenant's snapshots."""
    await _own_image(request, principal, id)
    await backends(request).servers.delete_image(id, principal.organization_id or 0)
    return Response(status_code=204)


async def _own_images(request: Request, principal: Principal) -> list[pb.Image]:
    return await backends(request).servers.own_images(principal.user_id, principal.organization_id or 0)


async def _usable_images(request: Request, principal: Principal) -> list[pb.Image]:
    """The public system images and the caller's tenant's own snapshots."""
    return [*await backends(request).compute.images(), *await _own_images(request, principal)]


@router.get("/v1/pricing")
@scope(Family.PRICING, Access.READ)
async def get_pricing(request: Request, principal: Authenticated) -> PricingAnswer:
    """The platform's prices, net and gross: its server types per location from compute's
    catalog; the VAT, traffic, volumes, floating IPs and load balancers from billing's plans.
    Products without an active plan are not sold."""
    datacenters = await active_datacenters(request)
    server_types = await _server_types(request)
    prices = await backends(request).prices.get()
    floating_ips = []
    for ip_type in ("ipv4", "ipv6"):
        offered = prices.floating_ip(ip_type)
        if offered is not None:
            monthly = money_of(offered[1])
            floating_ips.append(
                FloatingIpPricing(
                    type=ip_type,
                    prices=[LocationMonthlyPrice(location=dc.code, price_monthly=monthly) for dc in datacenters],
                )
            )
    primary_ips = []
    primary_type: Literal["ipv4", "ipv6"]
    for primary_type in ("ipv4", "ipv6"):
        primary = prices.primary_ip(primary_type)
        if primary is not None:
            hourly, monthly = money_of(primary[0]), money_of(primary[1])
            primary_ips.append(
                PrimaryIpPricing(
                    type=primary_type,
                    prices=[
                        PrimaryIpPrice(location=dc.code, price_hourly=hourly, price_monthly=monthly)
                        for dc in datacenters
                    ],
                )
            )
    load_balancer_types = []
    for lt in await backends(request).compute.load_balancer_types():
        priced = prices.load_balancer(lt.code)
        if lt.available and priced is not None:
            hourly, monthly = money_of(priced[0]), money_of(priced[1])
            offered_in = [dc for dc in datacenters if dc.code in lt.upstream_datacenters]
            load_balancer_types.append(
                LoadBalancerTypePricing(
                    id=lt.id, name=lt.code, prices=per_location(hourly, monthly, offered_in, prices)
                )
            )
    ipv4 = prices.floating_ip("ipv4")
    return PricingAnswer(
        pricing=PricingOut(
            currency=prices.currency,
            vat_rate=decimal_string(prices.vat_rate, Decimal("0.000001")),
            image=PricePerGb(price_per_gb_month=money_of(prices.snapshot_per_gb_month)),
            floating_ip=MonthlyPrice(price_monthly=money_of(ipv4[1]) if ipv4 is not None else ZERO),
            floating_ips=floating_ips,
            primary_ips=primary_ips,
            server_backup=ServerBackupPrice(percentage=decimal_string(prices.backup_percentage)),
            volume=PricePerGb(price_per_gb_month=money_of(prices.volume_per_gb_month)),
            load_balancer_types=load_balancer_types,
            server_types=[
                ServerTypePricing(id=st.id, name=st.code, prices=server_type_prices(st, datacenters, prices))
                for st in server_types
            ],
        )
    )
