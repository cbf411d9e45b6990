"""``/v1/invoices``: the invoices billing issued, in the platform's Hetzner-like style.

- ``GET /v1/invoices`` (``status``, ``page``/``per_page`` with ``meta.pagination`` and
  ``Link``): billing staff (platform ``admin`` and ``billing`` roles) see every account's; anyone
  else the invoices of its tenant — the organization its API key is bound to (if it is the
  organization's owner, admin or billing member), else its own user account's. Newest first.
- ``GET /v1/invoices/{id}``: one invoice with its line items inline; ``GET
  /v1/invoices/{id}/pdf``: the same as a PDF document (``application/pdf``). Another tenant's
  invoice, or an organization's for a plain member, is ``404 not_found``.
- ``POST /v1/invoices/{id}/actions/pay`` (``amount``, ``method``, ``reference``, ``paid_at``),
  ``.../cancel`` (``reason``), ``.../refund`` (``reason``, ``refund_to``): billing staff only
  (``403 forbidden`` otherwise); a status that does not allow it is ``412 precondition_failed``.

Money is a decimal string (``"12.34"``) with the invoice's ``currency``. Scopes
``invoices:read`` and ``invoices:write``; billing checks the tenant again from the principal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, page_meta
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal, Role
from gateway_service.auth.scoped import scope, staff
from gateway_service.clients.backends import backends
from hetzner_conventions.error_handlers import documented_errors
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

InvoiceId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the invoice.")]
Status = Literal["pending", "paid", "overdue", "cancelled", "refunded"]
NOT_IN_STATE = documented_errors(412)  # the invoice's status does not allow the action
Money = Annotated[str, Field(pattern=r"^\d{1,8}(\.\d{1,2})?$", description="Decimal amount, e.g. 12.34.")]


class InvoiceItemOut(BaseModel):
    id: int
    resource_type: str
    resource_id: int
    description: str
    product: str
    quantity: str
    unit_price: str = Field(description="Net price per unit.")
    total: str = Field(description="Net amount of the line.")
    usage_period_start: datetime | None
    usage_period_end: datetime | None
    capped: bool = Field(description="Whether the monthly cap applied.")
    adjustment: bool = Field(description="Whether it adjusts an earlier invoice (usage that arrived late).")


class InvoiceOut(BaseModel):
    id: int
    number: str
    status: str
    account_type: str
    account_id: int
    user_id: int
    organization_id: int | None
    currency: str
    subtotal: str
    tax_rate: str
    tax_amount: str
    credits_applied: str
    total: str = Field(description="Amount due.")
    period_start: date
    period_end: date
    due_date: date | None
    issued: datetime | None
    paid_at: datetime | None
    payment_method: str | None
    payment_reference: str | None
    notes: str | None
    credit_note_number: str | None
    refunded_amount: str | None
    items: list[InvoiceItemOut] | None = Field(description="Line items (with a single invoice; null in lists).")


class InvoiceAnswer(BaseModel):
    invoice: InvoiceOut


class InvoicesAnswer(BaseModel):
    invoices: list[InvoiceOut]
    meta: Meta


class Payment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money = Field(description="The amount paid: the invoice's total.")
    method: Literal["credit_card", "paypal", "bank_transfer", "crypto"]
    reference: str = Field(min_length=1, max_length=255, description="The payment provider's reference.")
    paid_at: datetime | None = Field(default=None, description="When it was paid; now if absent.")


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class Refund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    refund_to: Literal["payment_method", "account_credit"] = Field(
        default="payment_method",
        description="Back to the payment method it was paid with, or an account credit (type compensation).",
    )


def _time(message: pb.Invoice | pb.InvoiceItem, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None  # type: ignore[arg-type]


def invoice_out(invoice: pb.Invoice, *, with_items: bool) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.id,
        number=invoice.invoice_number,
        status=invoice.status,
        account_type=invoice.account_type,
        account_id=invoice.account_id,
        user_id=invoice.user_id,
        organization_id=invoice.organization_id or None,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax_amount=invoice.tax_amount,
        credits_applied=invoice.credits_applied,
        total=invoice.total,
        period_start=date.fromisoformat(invoice.period_start),
        period_end=date.fromisoformat(invoice.period_end),
        due_date=date.fromisoformat(invoice.due_date) if invoice.due_date else None,
        issued=_time(invoice, "issued_at"),
        paid_at=_time(invoice, "paid_at"),
        payment_method=invoice.payment_method or None,
        payment_reference=invoice.payment_reference or None,
        notes=invoice.notes or None,
        credit_note_number=invoice.credit_note_number or None,
        refunded_amount=invoice.refunded_amount or None,
        items=[
            InvoiceItemOut(
                id=item.id,
                resource_type=item.resource_type,
                resource_id=item.resource_id,
                description=item.description,
                product=item.product,
                quantity=item.quantity,
                unit_price=item.unit_price,
                total=item.total,
                usage_period_start=_time(item, "usage_period_start"),
                usage_period_end=_time(item, "usage_period_end"),
                capped=item.capped,
                adjustment=item.adjustment,
            )
            for item in invoice.items
        ]
        if with_items
        else None,
    )


def sees_every_account(principal: Principal) -> bool:
    return principal.role in (Role.ADMIN, Role.BILLING)


@router.get("")
@scope(Family.INVOICES, Access.READ)
async def list_invoices(
    request: Request,
    response: Response,
    principal: Authenticated,
    status: Annotated[Status | None, Query(description="Only invoices of this status.")] = None,
    page: str | None = None,
    per_page: str | None = None,
) -> InvoicesAnswer:
    """The invoices the caller sees, newest first, one page of them."""
    page_request = parse_page_request(page, per_page)
    answer = await backends(request).billing.list_invoices(
        principal.user_id,
        principal.organization_id or 0,
        all_accounts=sees_every_account(principal),
        status=status or "",
        page=page_request.page,
        per_page=page_request.per_page,
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return InvoicesAnswer(invoices=[invoice_out(i, with_items=False) for i in answer.invoices], meta=meta)


@router.get("/{id}")
@scope(Family.INVOICES, Access.READ)
async def get_invoice(request: Request, principal: Authenticated, id: InvoiceId) -> InvoiceAnswer:
    """One invoice with its line items."""
    return InvoiceAnswer(invoice=invoice_out(await backends(request).billing.get_invoice(id), with_items=True))


@router.get(
    "/{id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
@scope(Family.INVOICES, Access.READ)
async def get_invoice_pdf(request: Request, principal: Authenticated, id: InvoiceId) -> Response:
    """The invoice as a PDF document."""
    answer = await backends(request).billing.invoice_pdf(id)
    return Response(
        content=answer.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{answer.filename}"'},
    )


@router.post("/{id}/actions/pay", responses=NOT_IN_STATE)
@staff(Family.INVOICES, Access.WRITE)
async def pay_invoice(request: Request, principal: Authenticated, id: InvoiceId, body: Payment) -> InvoiceAnswer:
    """Record the payment of the whole amount due (billing staff)."""
    paid_at = body.paid_at.astimezone(UTC) if body.paid_at is not None else None
    invoice = await backends(request).billing.record_payment(id, body.amount, body.method, body.reference, paid_at)
    return InvoiceAnswer(invoice=invoice_out(invoice, with_items=True))


@router.post("/{id}/actions/cancel", responses=NOT_IN_STATE)
@staff(Family.INVOICES, Access.WRITE)
async def cancel_invoice(
    request: Request, principal: Authenticated, id: InvoiceId, body: Cancellation
) -> InvoiceAnswer:
    """Void an unpaid invoice; the credits it used go back (billing staff)."""
    invoice = await backends(request).billing.cancel_invoice(id, body.reason)
    return InvoiceAnswer(invoice=invoice_out(invoice, with_items=True))


@router.post("/{id}/actions/refund", responses=NOT_IN_STATE)
@staff(Family.INVOICES, Access.WRITE)
async def refund_invoice(request: Request, principal: Authenticated, id: InvoiceId, body: Refund) -> InvoiceAnswer:
    """Refund a paid invoice with a credit note (billing staff)."""
    invoice = await backends(request).billing.refund_invoice(id, body.reason, body.refund_to)
    return InvoiceAnswer(invoice=invoice_out(invoice, with_items=True))
