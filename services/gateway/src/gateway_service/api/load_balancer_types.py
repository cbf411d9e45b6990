"""``/v1/load_balancer_types`` (``name``, paging) and ``/v1/load_balancer_types/{id}``,
wire-compatible with Hetzner Cloud's: the types of compute's catalog (synced from upstream) at
the prices of billing's pricing plan of the same code (``lb11`` …; the one home of the price).

One gross price per type, the same in each of the platform's locations upstream offers it in,
``net`` without the VAT billing says the prices include, with the traffic included and its
price beyond (billing's ``traffic`` plan). A type the platform withdrew (not ``available``) or
has no active plan for is not shown. Any authenticated caller reads them with the scope
``load_balancer_types:read``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from cloudplatform.compute.v1 import compute_service_pb2 as pb
from gateway_service.api.common import Meta, one_page
from gateway_service.api.models.catalog import (
    Id,
    LoadBalancerTypeOut,
    Name,
    PageParam,
    PerPageParam,
    active_datacenters,
    load_balancer_type_out,
    one_by_id,
)
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.price_list import PriceList
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/load_balancer_types", tags=["catalog"])


class LoadBalancerTypesAnswer(BaseModel):
    load_balancer_types: list[LoadBalancerTypeOut]
    meta: Meta


class LoadBalancerTypeAnswer(BaseModel):
    load_balancer_type: LoadBalancerTypeOut


async def _offered(request: Request) -> tuple[list[pb.LoadBalancerType], PriceList]:
    """The types compute offers that billing has an active plan for, and the price list."""
    prices = await backends(request).prices.get()
    types = await backends(request).compute.load_balancer_types()
    return [lt for lt in types if lt.available and prices.load_balancer(lt.code) is not None], prices


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
    offered, prices = await _offered(request)
    found = [lt for lt in offered if name is None or lt.code == name]
    chosen, meta = one_page(request, response, found, parse_page_request(page, per_page))
    return LoadBalancerTypesAnswer(
        load_balancer_types=[load_balancer_type_out(lt, datacenters, prices) for lt in chosen], meta=meta
    )


@router.get("/{id}")
@scope(Family.LOAD_BALANCER_TYPES, Access.READ)
async def get_load_balancer_type(request: Request, principal: Authenticated, id: Id) -> LoadBalancerTypeAnswer:
    """One load balancer type."""
    offered, prices = await _offered(request)
    lt = one_by_id(offered, id, lambda t: t.id, "load balancer type")
    return LoadBalancerTypeAnswer(
        load_balancer_type=load_balancer_type_out(lt, await active_datacenters(request), prices)
    )
