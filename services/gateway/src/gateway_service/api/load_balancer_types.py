"""``/v1/load_balancer_types`` (``name``, paging) and ``/v1/load_balancer_types/{id}``,
wire-compatible with Hetzner Cloud's, read from compute's catalog (synced from upstream, at the
platform's own prices).

As for server types (api/models/catalog.py, whose price mapping this reuses): one gross EUR price per
type, the same in each of the platform's locations upstream offers it in, ``net`` without the
VAT; traffic is not billed yet (``included_traffic`` 0, ``price_per_tb_traffic`` 0). A type the
platform withdrew (not ``available``) is not shown. Any authenticated caller reads them with the
scope ``load_balancer_types:read``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from gateway_service.api.common import Meta, one_page
from gateway_service.api.models.catalog import (
    ZERO,
    Id,
    Name,
    PageParam,
    PerPageParam,
    ServerTypePrice,
    _decimal,
    active_datacenters,
    money,
    one_by_id,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/load_balancer_types", tags=["catalog"])


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


class LoadBalancerTypesAnswer(BaseModel):
    load_balancer_types: list[LoadBalancerTypeOut]
    meta: Meta


class LoadBalancerTypeAnswer(BaseModel):
    load_balancer_type: LoadBalancerTypeOut


def load_balancer_type_out(lt: pb.LoadBalancerType, datacenters: Sequence[pb.Datacenter]) -> LoadBalancerTypeOut:
    hourly, monthly = money(_decimal(lt.price_hourly)), money(_decimal(lt.price_monthly))
    return LoadBalancerTypeOut(
        id=lt.id,
        name=lt.code,
        description=lt.description,
        max_connections=lt.max_connections,
        max_services=lt.max_services,
        max_targets=lt.max_targets,
        max_assigned_certificates=lt.max_assigned_certificates,
        deprecated=lt.deprecated_at.ToDatetime(tzinfo=UTC) if lt.HasField("deprecated_at") else None,
        prices=[
            ServerTypePrice(
                location=dc.code,
                price_hourly=hourly,
                price_monthly=monthly,
                included_traffic=0,
                price_per_tb_traffic=ZERO,
            )
            for dc in datacenters
            if dc.code in lt.upstream_datacenters
        ],
    )


async def _offered(request: Request) -> list[pb.LoadBalancerType]:
    return [lt for lt in await backends(request).compute.load_balancer_types() if lt.available]


@router.get("")
@scope(Family.LOAD_BALANCER_TYPES, Access.READ)
async def list_load_balancer_types(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Name = None,
    page: PageParam = None,
    per_page: PerPageParam = None,
) -> LoadBalancerTypesAnswer:
    """The load balancer types, with the platform's prices per location."""
    datacenters = await active_datacenters(request)
    found = [lt for lt in await _offered(request) if name is None or lt.code == name]
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    return LoadBalancerTypesAnswer(
        load_balancer_types=[load_balancer_type_out(lt, datacenters) for lt in chosen], meta=meta
    )


@router.get("/{id}")
@scope(Family.LOAD_BALANCER_TYPES, Access.READ)
async def get_load_balancer_type(request: Request, principal: Authenticated, id: Id) -> LoadBalancerTypeAnswer:
    """One load balancer type."""
    lt = one_by_id(await _offered(request), id, lambda t: t.id, "load balancer type")
    return LoadBalancerTypeAnswer(load_balancer_type=load_balancer_type_out(lt, await active_datacenters(request)))
