"""The BillingService gRPC API: the invoice run (admins and services), reading invoices and
their PDF (scoped to the caller, adapters/authorization.py), and the invoice life actions
(billing staff and services).

Domain errors (InvalidInput, Forbidden, NotFound, PreconditionFailed) become gRPC statuses in
cpshared's interceptor.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from decimal import Decimal
from typing import Any

from grpc import aio
from sqlalchemy.engine import Row

from billing_service.adapters import authorization, invoice_views
from billing_service.adapters.invoice_pdf import Customer, Seller, render_invoice
from billing_service.bootstrap import Billing
from billing_service.domain.commands import RunInvoices
from billing_service.domain.invoice import parse_period
from billing_service.entrypoints.grpc_account_data import AccountDataServicer
from billing_service.service_layer import invoice_life
from billing_service.service_layer.invoice_run import run_invoices
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.context import current_principal
from cpshared.errors import Forbidden, InvalidInput
from cpshared.timestamps import to_timestamp

Context = aio.ServicerContext[Any, Any]


def require_billing_operator() -> None:
    """A service, a platform admin, or nobody at all (a server that checks no principals)."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return
    raise Forbidden("only platform admins run invoices")


def _money(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def payment_message(row: Row[Any]) -> pb.InvoicePayment:
    message = pb.InvoicePayment(
        kind=row.kind,
        amount=_money(row.amount),
        currency=row.currency,
        method=row.method or "",
        reference=row.reference or "",
        credit_note_number=row.credit_note_number or "",
        credit_id=row.credit_id or 0,
    )
    message.occurred_at.CopyFrom(to_timestamp(row.occurred_at.replace(tzinfo=UTC)))
    return message


def invoice_message(row: Row[Any], items: list[Row[Any]] | None = None) -> pb.Invoice:
    message = pb.Invoice(
        id=row.id,
        invoice_number=row.invoice_number,
        status=row.status,
        account_type=row.account_type,
        account_id=row.account_id,
        user_id=row.user_id,
        organization_id=row.organization_id or 0,
        currency=row.currency or "",
        subtotal=_money(row.subtotal),
        tax_rate=_money(row.tax_rate),
        tax_amount=_money(row.tax_amount),
        credits_applied=_money(row.credits_applied),
        total=_money(row.total),
        period_start=row.billing_period_start.isoformat(),
        period_end=row.billing_period_end.isoformat(),
        due_date=row.due_date.isoformat() if row.due_date else "",
        payment_method=row.payment_method or "",
        payment_reference=row.payment_reference or "",
        notes=row.notes or "",
        credit_note_number=row.credit_note_number or "",
        refunded_amount=_money(row.refunded_amount),
        amount_paid=_money(row.amount_paid),
    )
    if row.issued_at is not None:
        message.issued_at.CopyFrom(to_timestamp(row.issued_at.replace(tzinfo=UTC)))
    if row.paid_at is not None:
        message.paid_at.CopyFrom(to_timestamp(row.paid_at.replace(tzinfo=UTC)))
    for item in items or []:
        meta = item.metadata or {}
        line = message.items.add(
            id=item.id,
            resource_type=item.resource_type,
            resource_id=item.resource_id or 0,
            description=item.description,
            quantity=str(item.quantity),
            unit_price=str(item.unit_price),
            total=str(item.total),
            product=str(meta.get("product", "")),
            adjustment=bool(meta.get("adjustment", False)),
            capped=bool(meta.get("capped", False)),
        )
        if item.usage_period_start is not None:
            line.usage_period_start.CopyFrom(to_timestamp(item.usage_period_start.replace(tzinfo=UTC)))
        if item.usage_period_end is not None:
            line.usage_period_end.CopyFrom(to_timestamp(item.usage_period_end.replace(tzinfo=UTC)))
    return message


class InvoiceServicer:
    """The invoice RPCs, mixed into BillingServicer."""

    _billing: Billing

    def _read(self, invoice_id: int) -> tuple[Row[Any], list[Row[Any]], Row[Any] | None]:
        row, items, account = invoice_views.get_invoice(self._billing.engine, invoice_id)
        authorization.ensure_reaches_account(row.account_type, row.account_id, f"invoice {invoice_id}")
        return row, items, account

    def _full(self, invoice_id: int) -> pb.Invoice:
        row, items, _ = invoice_views.get_invoice(self._billing.engine, invoice_id)
        message = invoice_message(row, items)
        message.payments.extend(payment_message(p) for p in invoice_views.payments_of(self._billing.engine, invoice_id))
        return message

    async def ListInvoices(  # noqa: N802
        self, request: pb.ListInvoicesRequest, context: Context
    ) -> pb.ListInvoicesResponse:
        account: tuple[str, int] | None
        if request.all_accounts:
            authorization.require_staff("listing every account's invoices")
            account = None
        else:
            authorization.check_account(request.user_id, request.organization_id)
            account = (
                ("organization", request.organization_id) if request.organization_id else ("user", request.user_id)
            )
        page = await asyncio.to_thread(
            invoice_views.list_invoices, self._billing.engine, account, request.status, request.page, request.per_page
        )
        return pb.ListInvoicesResponse(
            invoices=[invoice_message(r) for r in page.rows], total_entries=page.total_entries
        )

    async def GetInvoice(  # noqa: N802
        self, request: pb.GetInvoiceRequest, context: Context
    ) -> pb.GetInvoiceResponse:
        row, items, _ = await asyncio.to_thread(self._read, request.invoice_id)
        message = invoice_message(row, items)
        payments = await asyncio.to_thread(invoice_views.payments_of, self._billing.engine, request.invoice_id)
        message.payments.extend(payment_message(p) for p in payments)
        return pb.GetInvoiceResponse(invoice=message)

    async def GetInvoicePdf(  # noqa: N802
        self, request: pb.GetInvoicePdfRequest, context: Context
    ) -> pb.GetInvoicePdfResponse:
        row, items, account = await asyncio.to_thread(self._read, request.invoice_id)
        rules = self._billing.rules
        seller = Seller(rules.billing_seller_name, rules.billing_seller_address, rules.billing_seller_vat_id)
        fallback = f"{'Organization' if row.account_type == 'organization' else 'Customer'} {row.account_id}"
        customer = Customer(
            name=(account.company_name if account is not None and account.company_name else fallback),
            country=(account.country or "") if account is not None else "",
            tax_id=(account.tax_id or "") if account is not None else "",
            email=(account.billing_email or "") if account is not None else "",
        )
        pdf = await asyncio.to_thread(render_invoice, invoice_message(row, items), seller, customer)
        return pb.GetInvoicePdfResponse(pdf=pdf, filename=f"{row.invoice_number}.pdf")

    async def RecordPayment(  # noqa: N802
        self, request: pb.RecordPaymentRequest, context: Context
    ) -> pb.RecordPaymentResponse:
        authorization.require_staff("recording a payment")
        paid_at = request.paid_at.ToDatetime(tzinfo=UTC) if request.HasField("paid_at") else None
        await asyncio.to_thread(
            invoice_life.record_payment,
            request.invoice_id,
            request.amount,
            request.method,
            request.reference,
            paid_at,
            self._billing.uow(),
        )
        return pb.RecordPaymentResponse(invoice=await asyncio.to_thread(self._full, request.invoice_id))

    async def CancelInvoice(  # noqa: N802
        self, request: pb.CancelInvoiceRequest, context: Context
    ) -> pb.CancelInvoiceResponse:
        authorization.require_staff("cancelling an invoice")
        await asyncio.to_thread(invoice_life.cancel, request.invoice_id, request.reason, self._billing.uow())
        return pb.CancelInvoiceResponse(invoice=await asyncio.to_thread(self._full, request.invoice_id))

    async def RefundInvoice(  # noqa: N802
        self, request: pb.RefundInvoiceRequest, context: Context
    ) -> pb.RefundInvoiceResponse:
        authorization.require_staff("refunding an invoice")
        await asyncio.to_thread(
            invoice_life.refund,
            request.invoice_id,
            request.reason,
            request.refund_to or "payment_method",
            self._billing.uow(),
            request.amount,
        )
        return pb.RefundInvoiceResponse(invoice=await asyncio.to_thread(self._full, request.invoice_id))


class BillingServicer(InvoiceServicer, AccountDataServicer, pb_grpc.BillingServiceServicer):
    def __init__(self, billing: Billing) -> None:
        self._billing = billing

    async def RunInvoices(  # noqa: N802
        self, request: pb.RunInvoicesRequest, context: Context
    ) -> pb.RunInvoicesResponse:
        require_billing_operator()
        try:
            period = parse_period(request.period)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        report = await asyncio.to_thread(run_invoices, RunInvoices(period), self._billing.terms, self._billing.uow)
        return pb.RunInvoicesResponse(
            issued=[
                pb.IssuedInvoice(
                    invoice_id=i.invoice_id,
                    invoice_number=i.invoice_number,
                    account_type=i.account.account_type,
                    account_id=i.account.account_id,
                    total=str(i.total),
                    currency=i.currency,
                )
                for i in report.issued
            ],
            already_invoiced=report.already_invoiced,
        )


def add_billing_servicer(server: aio.Server, billing: Billing) -> list[str]:
    pb_grpc.add_BillingServiceServicer_to_server(BillingServicer(billing), server)
    return [pb.DESCRIPTOR.services_by_name["BillingService"].full_name]
