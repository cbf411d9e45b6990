"""``GET /v1/quotas``: the caller's own quotas and those of its organizations, a page at a
time (``page``/``per_page`` with ``meta.pagination`` and ``Link``). Setting a limit is staff
work: ``PUT /v1/admin/quotas`` (api.admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from cloudplatform.identity.v1 import admin_service_pb2 as apb
from gateway_service.api.common import Meta, one_page
from gateway_service.api.models.quotas import QuotaOut, quota_out
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/quotas", tags=["quotas"])


class QuotasAnswer(BaseModel):
    quotas: list[QuotaOut]
    meta: Meta


@router.get("")
@scope(Family.QUOTAS, Access.READ)
async def list_quotas(
    request: Request, response: Response, principal: Authenticated, page: str | None = None, per_page: str | None = None
) -> QuotasAnswer:
    """The caller's quotas, then its organizations', one page of them."""
    page_request = parse_page_request(page, per_page)
    quotas = await backends(request).admin.list_quotas(apb.ListQuotasRequest(acting_user_id=principal.user_id))
    chosen, meta = one_page(request, response, quotas, page_request)
    return QuotasAnswer(quotas=[quota_out(q) for q in chosen], meta=meta)
