"""BillingService RPCs of an account's own billing data: payment methods, credits, monthly
usage; and the pricing plans everyone reads. Mixed into BillingServicer (grpc_billing.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from grpc import aio

from billing_service.adapters import authorization, invoice_views
from billing_service.bootstrap import Billing
from billing_service.domain.accounts import Account
from billing_service.domain.commands import GrantCredit
from billing_service.domain.credits import Credit
from billing_service.domain.invoice import parse_period
from billing_service.domain.payment_methods import NewPaymentMethod, PaymentMethod
from billing_service.domain.pricing_plans import PlanFields, PricingPlan
from billing_service.service_layer import credit_grants, payment_methods, pricing_plans, usage_report
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp

Context = aio.ServicerContext[Any, Any]


def payment_method_message(method: PaymentMethod) -> pb.PaymentMethod:
    message = pb.PaymentMethod(
        id=method.id,
        user_id=method.user_id,
        organization_id=method.organization_id or 0,
        type=method.type,
        is_default=method.is_default,
        last_four=method.last_four or "",
        card_brand=method.card_brand or "",
        exp_month=method.exp_month or 0,
        exp_year=method.exp_year or 0,
        billing_name=method.billing_name or "",
        billing_address=dict(method.billing_address or {}),
        provider_reference=method.provider_reference or "",
        paypal_email=method.paypal_email or "",
    )
    if method.created_at is not None:
        message.created_at.CopyFrom(to_timestamp(method.created_at))
    return message


def credit_message(credit: Credit) -> pb.Credit:
    message = pb.Credit(
        id=credit.id,
        user_id=credit.user_id,
        organization_id=credit.organization_id or 0,
        type=credit.type,
        amount=str(credit.amount),
        balance=str(credit.balance),
        currency=credit.currency,
        description=credit.description or "",
        expired=credit.is_expired(utcnow()),
    )
    if credit.expires_at is not None:
        message.expires_at.CopyFrom(to_timestamp(credit.expires_at))
    message.created_at.CopyFrom(to_timestamp(credit.created_at))
    return message


def plan_message(plan: PricingPlan) -> pb.PricingPlan:
    return pb.PricingPlan(id=plan.id, **plan.fields())


def plan_fields(plan: pb.PricingPlan) -> PlanFields:
    return PlanFields(
        name=plan.name,
        code=plan.code,
        resource_type=plan.resource_type,
        price_hourly=plan.price_hourly,
        price_monthly=plan.price_monthly,
        price_per_gb=plan.price_per_gb,
        included_traffic_tb=plan.included_traffic_tb,
        overage_price_per_tb=plan.overage_price_per_tb,
        currency=plan.currency,
        active=plan.active,
        percentage=plan.percentage,
    )


class AccountDataServicer:
    _billing: Billing

    def _method(self, method_id: int) -> PaymentMethod:
        method = payment_methods.get(method_id, self._billing.uow())
        account = method.account
        authorization.ensure_reaches_account(account.account_type, account.account_id, f"payment method {method_id}")
        return method

    async def AddPaymentMethod(  # noqa: N802
        self, request: pb.AddPaymentMethodRequest, context: Context
    ) -> pb.AddPaymentMethodResponse:
        authorization.check_account(request.user_id, request.organization_id)
        method = NewPaymentMethod(
            type=request.type,
            provider_reference=request.provider_reference,
            last_four=request.last_four,
            card_brand=request.card_brand,
            exp_month=request.exp_month,
            exp_year=request.exp_year,
            billing_name=request.billing_name,
            billing_address=dict(request.billing_address),
            paypal_email=request.paypal_email,
        )
        row = await asyncio.to_thread(
            payment_methods.add,
            request.user_id,
            request.organization_id or None,
            method,
            request.make_default,
            self._billing.uow(),
        )
        return pb.AddPaymentMethodResponse(payment_method=payment_method_message(row))

    async def ListPaymentMethods(  # noqa: N802
        self, request: pb.ListPaymentMethodsRequest, context: Context
    ) -> pb.ListPaymentMethodsResponse:
        authorization.check_account(request.user_id, request.organization_id)
        rows = await asyncio.to_thread(
            payment_methods.list_for, request.user_id, request.organization_id or None, self._billing.uow()
        )
        return pb.ListPaymentMethodsResponse(payment_methods=[payment_method_message(r) for r in rows])

    async def GetPaymentMethod(  # noqa: N802
        self, request: pb.GetPaymentMethodRequest, context: Context
    ) -> pb.GetPaymentMethodResponse:
        row = await asyncio.to_thread(self._method, request.payment_method_id)
        return pb.GetPaymentMethodResponse(payment_method=payment_method_message(row))

    async def UpdatePaymentMethod(  # noqa: N802
        self, request: pb.UpdatePaymentMethodRequest, context: Context
    ) -> pb.UpdatePaymentMethodResponse:
        await asyncio.to_thread(self._method, request.payment_method_id)
        row = await asyncio.to_thread(
            payment_methods.update,
            request.payment_method_id,
            request.billing_name if request.HasField("billing_name") else None,
            request.exp_month if request.HasField("exp_month") else None,
            request.exp_year if request.HasField("exp_year") else None,
            dict(request.billing_address) if request.replace_billing_address else None,
            self._billing.uow(),
        )
        return pb.UpdatePaymentMethodResponse(payment_method=payment_method_message(row))

    async def SetDefaultPaymentMethod(  # noqa: N802
        self, request: pb.SetDefaultPaymentMethodRequest, context: Context
    ) -> pb.SetDefaultPaymentMethodResponse:
        await asyncio.to_thread(self._method, request.payment_method_id)
        row = await asyncio.to_thread(payment_methods.set_default, request.payment_method_id, self._billing.uow())
        return pb.SetDefaultPaymentMethodResponse(payment_method=payment_method_message(row))

    async def DeletePaymentMethod(  # noqa: N802
        self, request: pb.DeletePaymentMethodRequest, context: Context
    ) -> pb.DeletePaymentMethodResponse:
        await asyncio.to_thread(self._method, request.payment_method_id)
        await asyncio.to_thread(payment_methods.delete, request.payment_method_id, self._billing.uow())
        return pb.DeletePaymentMethodResponse()

    async def GrantCredit(  # noqa: N802
        self, request: pb.GrantCreditRequest, context: Context
    ) -> pb.GrantCreditResponse:
        authorization.require_staff("granting credits")
        expires_at = request.expires_at.ToDatetime(tzinfo=UTC) if request.HasField("expires_at") else None
        command = GrantCredit(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            kind=request.type,
            amount=request.amount,
            currency=request.currency,
            expires_at=expires_at,
            description=request.description,
        )
        credit = await asyncio.to_thread(
            credit_grants.grant, command, self._billing.uow(), self._billing.rules.billing_currency
        )
        return pb.GrantCreditResponse(credit=credit_message(credit))

    async def ListCredits(  # noqa: N802
        self, request: pb.ListCreditsRequest, context: Context
    ) -> pb.ListCreditsResponse:
        authorization.check_account(request.user_id, request.organization_id)
        found, remaining = await asyncio.to_thread(
            credit_grants.list_for, request.user_id, request.organization_id or None, self._billing.uow()
        )
        return pb.ListCreditsResponse(
            credits=[credit_message(c) for c in found], remaining={k: str(v) for k, v in remaining.items()}
        )

    async def ListPricingPlans(  # noqa: N802
        self, request: pb.ListPricingPlansRequest, context: Context
    ) -> pb.ListPricingPlansResponse:
        rows = await asyncio.to_thread(
            pricing_plans.list_plans, request.resource_type, request.include_inactive, self._billing.uow()
        )
        return pb.ListPricingPlansResponse(
            pricing_plans=[plan_message(r) for r in rows], included_tax_rate=str(self._billing.terms.included_tax_rate)
        )

    async def GetPricingPlan(  # noqa: N802
        self, request: pb.GetPricingPlanRequest, context: Context
    ) -> pb.GetPricingPlanResponse:
        row = await asyncio.to_thread(pricing_plans.get, request.pricing_plan_id, self._billing.uow())
        return pb.GetPricingPlanResponse(pricing_plan=plan_message(row))

    async def CreatePricingPlan(  # noqa: N802
        self, request: pb.CreatePricingPlanRequest, context: Context
    ) -> pb.CreatePricingPlanResponse:
        authorization.require_admin("writing pricing plans")
        row = await asyncio.to_thread(pricing_plans.create, plan_fields(request.pricing_plan), self._billing.uow())
        return pb.CreatePricingPlanResponse(pricing_plan=plan_message(row))

    async def UpdatePricingPlan(  # noqa: N802
        self, request: pb.UpdatePricingPlanRequest, context: Context
    ) -> pb.UpdatePricingPlanResponse:
        authorization.require_admin("writing pricing plans")
        row = await asyncio.to_thread(
            pricing_plans.update, request.pricing_plan.id, plan_fields(request.pricing_plan), self._billing.uow()
        )
        return pb.UpdatePricingPlanResponse(pricing_plan=plan_message(row))

    async def GetAccountStatement(  # noqa: N802
        self, request: pb.GetAccountStatementRequest, context: Context
    ) -> pb.GetAccountStatementResponse:
        authorization.check_account(request.user_id, request.organization_id)
        account = Account.of(request.user_id, request.organization_id)
        found = await asyncio.to_thread(
            invoice_views.statement_of,
            self._billing.engine,
            account,
            self._billing.rules.billing_currency,
            utcnow(),
        )
        answer = pb.GetAccountStatementResponse(
            currency=found.currency,
            invoiced=str(found.invoiced),
            paid=str(found.paid),
            refunded=str(found.refunded),
            outstanding=str(found.outstanding),
            credits_available=str(found.credits_available),
            balance=str(found.balance),
        )
        for entry in found.entries:
            item = answer.entries.add(
                kind=entry.kind,
                document=entry.document,
                invoice_number=entry.invoice_number,
                amount=str(entry.amount),
                description=entry.description,
            )
            item.at.CopyFrom(to_timestamp(entry.at))
        return answer

    async def GetMonthlyUsage(  # noqa: N802
        self, request: pb.GetMonthlyUsageRequest, context: Context
    ) -> pb.GetMonthlyUsageResponse:
        authorization.check_account(request.user_id, request.organization_id)
        month: datetime | None = None
        if request.month:
            try:
                month = datetime.combine(parse_period(request.month), datetime.min.time())
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        account = Account.of(request.user_id, request.organization_id)
        report = await asyncio.to_thread(
            usage_report.monthly_usage, account, month, self._billing.terms, self._billing.uow()
        )
        answer = pb.GetMonthlyUsageResponse(
            month=f"{report.month:%Y-%m}",
            estimate=report.estimate,
            currency=report.currency,
            subtotal=str(report.subtotal),
            tax_rate=str(report.tax_rate),
            tax_amount=str(report.tax_amount),
            total=str(report.total),
            credits_available=str(report.credits_available),
            usage=[
                pb.UsageSummary(
                    resource_type=u.resource_type,
                    resource_id=u.resource_id,
                    resource_name=u.resource_name,
                    metric_type=u.metric_type,
                    total_quantity=str(u.total_quantity),
                    total_cost=str(u.total_cost),
                )
                for u in report.usage
            ],
        )
        for line in report.lines:
            item = answer.lines.add(
                resource_type=line.key.resource_type,
                resource_id=line.key.resource_id,
                description=line.description,
                quantity=str(line.quantity),
                unit_price=str(line.unit_price),
                total=str(line.total),
                product=line.key.product,
                adjustment=line.adjustment,
                capped=line.capped,
            )
            item.usage_period_start.CopyFrom(to_timestamp(line.period_start))
            item.usage_period_end.CopyFrom(to_timestamp(line.period_end))
        return answer
