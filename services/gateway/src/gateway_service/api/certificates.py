"""``/v1/certificates``: TLS certificates, wire-compatible with Hetzner Cloud's, kept by the network
service.

- ``GET /v1/certificates`` (``name``, ``label_selector``, ``sort`` id/name/created, paging);
  ``POST /v1/certificates`` (``name``, ``type`` uploaded, ``certificate`` and ``private_key`` in
  PEM, ``labels``): ``201`` with the certificate (and ``action`` null: an uploaded certificate
  has none). A chain that does not parse, a key that is not the certificate's, a CA certificate:
  ``400 invalid_input`` naming the field; ``type`` managed: ``400 invalid_input`` (the
  platform's upstream issues no managed certificates).
- ``GET``/``PUT`` (``name``, ``labels``)/``DELETE /v1/certificates/{id}``; one an https service
  uses is not deleted (``422 resource_in_use``).

The private key is never answered. Certificate actions (managed certificates' issuance and
``retry``) are not served (``501 not_implemented``). Scopes ``certificates:read`` and
``certificates:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.network.v1 import network_service_pb2 as npb
from gateway_service.api.common import MAX_ID, Labels, Meta, page_meta, sort_param, tenant
from gateway_service.api.servers.mapping import as_datetime
from gateway_service.api.servers.models import ActionOut
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])

SORTABLE = ("id", "name", "created")
MAX_PEM = 64 * 1024
CertificateId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the certificate.")]


class NewCertificate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=128)
    type: Literal["uploaded", "managed"] = "uploaded"
    certificate: str | None = Field(default=None, max_length=MAX_PEM)
    private_key: str | None = Field(default=None, max_length=MAX_PEM)
    domain_names: list[Annotated[str, Field(max_length=255)]] = Field(default_factory=list, max_length=100)
    labels: Labels = Field(default_factory=dict)


class CertificateChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=128)
    labels: Labels | None = Field(default=None, description="Replaces every label.")


class UsedBy(BaseModel):
    id: int
    type: str


class CertificateOut(BaseModel):
    id: int
    name: str
    labels: dict[str, str]
    type: str
    certificate: str | None
    created: datetime
    not_valid_before: datetime | None
    not_valid_after: datetime | None
    domain_names: list[str]
    fingerprint: str | None
    status: dict[str, str] | None
    used_by: list[UsedBy]


class CertificateAnswer(BaseModel):
    certificate: CertificateOut


class CreatedCertificate(BaseModel):
    certificate: CertificateOut
    action: ActionOut | None


class CertificatesAnswer(BaseModel):
    certificates: list[CertificateOut]
    meta: Meta


def certificate_out(certificate: npb.Certificate) -> CertificateOut:
    return CertificateOut(
        id=certificate.id,
        name=certificate.name,
        labels=dict(certificate.labels),
        type=certificate.type,
        certificate=certificate.certificate,
        created=as_datetime(certificate.created_at),
        not_valid_before=as_datetime(certificate.not_valid_before),
        not_valid_after=as_datetime(certificate.not_valid_after),
        domain_names=list(certificate.domain_names),
        fingerprint=certificate.fingerprint,
        status=None,
        used_by=[UsedBy(id=lb, type="load_balancer") for lb in certificate.used_by],
    )


@router.get("")
@scope(Family.CERTIFICATES, Access.READ)
async def list_certificates(
    request: Request,
    response: Response,
    principal: Authenticated,
    name: Annotated[str | None, Query(max_length=128, description="Only the certificate with this name.")] = None,
    label_selector: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> CertificatesAnswer:
    """The caller's certificates matching every filter given, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    selector = parse_label_selector(label_selector)
    user_id, organization_id = tenant(principal)
    answer = await backends(request).certificates.search(
        npb.ListCertificatesRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name or "",
            label_selector=[
                cpb.LabelRequirement(key=r.key, operator=r.operator, values=r.values) for r in selector.requirements
            ],
            sort=sort_param(sort_keys),
            page=page_request.page,
            per_page=page_request.per_page,
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return CertificatesAnswer(certificates=[certificate_out(c) for c in answer.certificates], meta=meta)


@router.post("", status_code=201)
@scope(Family.CERTIFICATES, Access.WRITE)
async def create_certificate(request: Request, principal: Authenticated, body: NewCertificate) -> CreatedCertificate:
    """Upload a certificate (checked: the chain, the key, the names and validity read from it)."""
    user_id, organization_id = tenant(principal)
    made = await backends(request).certificates.create(
        npb.CreateCertificateRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=body.name,
            type=body.type,
            certificate=body.certificate or "",
            private_key=body.private_key or "",
            labels=body.labels,
        )
    )
    return CreatedCertificate(certificate=certificate_out(made), action=None)


@router.get("/{id:int}")
@scope(Family.CERTIFICATES, Access.READ)
async def get_certificate(request: Request, principal: Authenticated, id: CertificateId) -> CertificateAnswer:
    """One certificate the caller reaches."""
    return CertificateAnswer(
        certificate=certificate_out(await backends(request).certificates.get(id, tenant(principal)[1]))
    )


@router.put("/{id:int}")
@scope(Family.CERTIFICATES, Access.WRITE)
async def update_certificate(
    request: Request, principal: Authenticated, id: CertificateId, body: CertificateChange
) -> CertificateAnswer:
    """Rename a certificate or replace its labels."""
    found = await backends(request).certificates.update(id, tenant(principal)[1], name=body.name, labels=body.labels)
    return CertificateAnswer(certificate=certificate_out(found))


@router.delete("/{id:int}", status_code=204)
@scope(Family.CERTIFICATES, Access.WRITE)
async def delete_certificate(request: Request, principal: Authenticated, id: CertificateId) -> Response:
    """Delete a certificate no https service uses (``422 resource_in_use`` otherwise)."""
    await backends(request).certificates.delete(id, tenant(principal)[1])
    return Response(status_code=204)
