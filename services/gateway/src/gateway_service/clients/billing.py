"""The gateway's calls to the billing service's BillingService: invoices, their PDF and the
staff actions. Each call carries the request's principal (the channel sends it on); billing
checks the tenant again from it, and a refusal raises the public error of the same meaning."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import grpc
from grpc import aio

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.timestamps import to_timestamp
from gateway_service.backend_errors import domain_error_for

BACKEND = "billing"
T = TypeVar("T")


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.RpcError as exc:
        raise domain_error_for(exc, BACKEND) from None


class BillingClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _billing(self) -> pb_grpc.BillingServiceAsyncStub:
        return pb_grpc.BillingServiceStub(self._channel())

    async def list_invoices(
        self, user_id: int, organization_id: int, *, all_accounts: bool, status: str, page: int, per_page: int
    ) -> pb.ListInvoicesResponse:
        request = pb.ListInvoicesRequest(
            user_id=user_id,
            organization_id=organization_id,
            all_accounts=all_accounts,
            status=status,
            page=page,
            per_page=per_page,
        )
        return await _call(self._billing().ListInvoices(request))

    async def get_invoice(self, invoice_id: int) -> pb.Invoice:
        return (await _call(self._billing().GetInvoice(pb.GetInvoiceRequest(invoice_id=invoice_id)))).invoice

    async def invoice_pdf(self, invoice_id: int) -> pb.GetInvoicePdfResponse:
        return await _call(self._billing().GetInvoicePdf(pb.GetInvoicePdfRequest(invoice_id=invoice_id)))

    async def record_payment(
        self, invoice_id: int, amount: str, method: str, reference: str, paid_at: datetime | None
    ) -> pb.Invoice:
        request = pb.RecordPaymentRequest(invoice_id=invoice_id, amount=amount, method=method, reference=reference)
        if paid_at is not None:
            request.paid_at.CopyFrom(to_timestamp(paid_at))
        return (await _call(self._billing().RecordPayment(request))).invoice

    async def cancel_invoice(self, invoice_id: int, reason: str) -> pb.Invoice:
        request = pb.CancelInvoiceRequest(invoice_id=invoice_id, reason=reason)
        return (await _call(self._billing().CancelInvoice(request))).invoice

    async def refund_invoice(self, invoice_id: int, reason: str, refund_to: str) -> pb.Invoice:
        request = pb.RefundInvoiceRequest(invoice_id=invoice_id, reason=reason, refund_to=refund_to)
        return (await _call(self._billing().RefundInvoice(request))).invoice
