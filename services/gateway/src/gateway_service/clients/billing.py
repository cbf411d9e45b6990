"""The gateway's calls to the billing service's BillingService: invoices, their PDF and the
staff actions. Each call carries the request's principal (the channel sends it on); billing
checks the tenant again from it, and a refusal raises the public error of the same meaning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from grpc import aio

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.timestamps import to_timestamp
from gateway_service.clients.calls import backend_call

BACKEND = "billing"


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
        return await backend_call(BACKEND, self._billing().ListInvoices(request))

    async def get_invoice(self, invoice_id: int) -> pb.Invoice:
        return (
            await backend_call(BACKEND, self._billing().GetInvoice(pb.GetInvoiceRequest(invoice_id=invoice_id)))
        ).invoice

    async def invoice_pdf(self, invoice_id: int) -> pb.GetInvoicePdfResponse:
        return await backend_call(
            BACKEND, self._billing().GetInvoicePdf(pb.GetInvoicePdfRequest(invoice_id=invoice_id))
        )

    async def record_payment(
        self, invoice_id: int, amount: str, method: str, reference: str, paid_at: datetime | None
    ) -> pb.Invoice:
        request = pb.RecordPaymentRequest(invoice_id=invoice_id, amount=amount, method=method, reference=reference)
        if paid_at is not None:
            request.paid_at.CopyFrom(to_timestamp(paid_at))
        return (await backend_call(BACKEND, self._billing().RecordPayment(request))).invoice

    async def cancel_invoice(self, invoice_id: int, reason: str) -> pb.Invoice:
        request = pb.CancelInvoiceRequest(invoice_id=invoice_id, reason=reason)
        return (await backend_call(BACKEND, self._billing().CancelInvoice(request))).invoice

    async def refund_invoice(self, invoice_id: int, reason: str, refund_to: str, amount: str = "") -> pb.Invoice:
        request = pb.RefundInvoiceRequest(invoice_id=invoice_id, reason=reason, refund_to=refund_to, amount=amount)
        return (await backend_call(BACKEND, self._billing().RefundInvoice(request))).invoice

    # -- payment methods, credits, pricing plans, usage ---------------------------------------
    async def add_payment_method(self, request: pb.AddPaymentMethodRequest) -> pb.PaymentMethod:
        return (await backend_call(BACKEND, self._billing().AddPaymentMethod(request))).payment_method

    async def list_payment_methods(self, user_id: int, organization_id: int) -> list[pb.PaymentMethod]:
        request = pb.ListPaymentMethodsRequest(user_id=user_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._billing().ListPaymentMethods(request))).payment_methods)

    async def get_payment_method(self, method_id: int) -> pb.PaymentMethod:
        request = pb.GetPaymentMethodRequest(payment_method_id=method_id)
        return (await backend_call(BACKEND, self._billing().GetPaymentMethod(request))).payment_method

    async def update_payment_method(self, request: pb.UpdatePaymentMethodRequest) -> pb.PaymentMethod:
        return (await backend_call(BACKEND, self._billing().UpdatePaymentMethod(request))).payment_method

    async def set_default_payment_method(self, method_id: int) -> pb.PaymentMethod:
        request = pb.SetDefaultPaymentMethodRequest(payment_method_id=method_id)
        return (await backend_call(BACKEND, self._billing().SetDefaultPaymentMethod(request))).payment_method

    async def delete_payment_method(self, method_id: int) -> None:
        await backend_call(
            BACKEND, self._billing().DeletePaymentMethod(pb.DeletePaymentMethodRequest(payment_method_id=method_id))
        )

    async def grant_credit(self, request: pb.GrantCreditRequest) -> pb.Credit:
        return (await backend_call(BACKEND, self._billing().GrantCredit(request))).credit

    async def list_credits(self, user_id: int, organization_id: int) -> pb.ListCreditsResponse:
        request = pb.ListCreditsRequest(user_id=user_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._billing().ListCredits(request))

    async def price_list(self) -> pb.ListPricingPlansResponse:
        """Every active plan and the VAT included in the platform's gross prices."""
        return await backend_call(BACKEND, self._billing().ListPricingPlans(pb.ListPricingPlansRequest()))

    async def list_pricing_plans(self, resource_type: str, include_inactive: bool) -> list[pb.PricingPlan]:
        request = pb.ListPricingPlansRequest(resource_type=resource_type, include_inactive=include_inactive)
        return list((await backend_call(BACKEND, self._billing().ListPricingPlans(request))).pricing_plans)

    async def get_pricing_plan(self, plan_id: int) -> pb.PricingPlan:
        request = pb.GetPricingPlanRequest(pricing_plan_id=plan_id)
        return (await backend_call(BACKEND, self._billing().GetPricingPlan(request))).pricing_plan

    async def create_pricing_plan(self, plan: pb.PricingPlan) -> pb.PricingPlan:
        request = pb.CreatePricingPlanRequest(pricing_plan=plan)
        return (await backend_call(BACKEND, self._billing().CreatePricingPlan(request))).pricing_plan

    async def update_pricing_plan(self, plan: pb.PricingPlan) -> pb.PricingPlan:
        request = pb.UpdatePricingPlanRequest(pricing_plan=plan)
        return (await backend_call(BACKEND, self._billing().UpdatePricingPlan(request))).pricing_plan

    async def statement(self, user_id: int, organization_id: int) -> pb.GetAccountStatementResponse:
        request = pb.GetAccountStatementRequest(user_id=user_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._billing().GetAccountStatement(request))

    async def monthly_usage(self, user_id: int, organization_id: int, month: str) -> pb.GetMonthlyUsageResponse:
        request = pb.GetMonthlyUsageRequest(user_id=user_id, organization_id=organization_id, month=month)
        return await backend_call(BACKEND, self._billing().GetMonthlyUsage(request))
