"""Billing's other public routes, in the platform's Hetzner-like style, over billing's gRPC API.

- ``GET /v1/billing/usage?month=YYYY-MM``: the tenant's usage of a month per resource and metric
  (the seed's ``calculate_monthly_usage``), priced as its invoice prices it; without ``month``
  the current month, ``estimate: true``: a month-to-date estimate of its invoice.
- ``/v1/credits``: ``GET`` the tenant's credits with the usable ``remaining`` per currency;
  ``POST`` grants one (billing staff: platform ``admin`` and ``billing``).
- ``/v1/payment_methods``: list, add (only the payment provider's reference and display data;
  a card number anywhere is ``invalid_input``), get, update (``PUT``: billing name, address,
  expiry), delete, ``POST /{id}/actions/set_default``. One default per account.
- ``/v1/pricing_plans``: everyone reads (``GET``, ``/{id}``); platform admins write (``POST``,
  ``PUT /{id}``).

The tenant is the principal's: the organization its API key is bound to (billing lets its
owner, admins and billing members in), else its user. Money is a decimal string. Another
tenant's payment method is ``404 not_found``. Scopes ``billing``, ``credits``,
``payment_methods`` and ``pricing_plans`` (``:read``/``:write``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from cloudplatform.billing.v1 import billing_service_pb2 as pb
from gateway_service.api.common import MAX_ID, BodyId, OptionalBodyId, Text, tenant
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope, staff
from gateway_service.clients.backends import backends

usage_router = APIRouter(prefix="/v1/billing", tags=["billing"])
credits_router = APIRouter(prefix="/v1/credits", tags=["credits"])
payment_methods_router = APIRouter(prefix="/v1/payment_methods", tags=["payment_methods"])
pricing_plans_router = APIRouter(prefix="/v1/pricing_plans", tags=["pricing_plans"])

ResourceId = Annotated[int, Path(ge=1, le=MAX_ID)]
Money = Annotated[str, Field(pattern=r"^\d{1,8}(\.\d{1,2})?$", description="Decimal amount, e.g. 12.34.")]
Price = Annotated[str | None, Field(default=None, pattern=r"^\d{1,8}(\.\d{1,6})?$", description="Decimal price.")]
Percentage = Annotated[
    str | None,
    Field(
        default=None,
        pattern=r"^\d{1,3}(\.\d{1,2})?$",
        description="A percentage of another product's price (the backup plan: of the server's), 0 to 100.",
    ),
]
ResourceType = Literal["server", "volume", "floating_ip", "load_balancer", "backup", "bandwidth"]
Address = dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=255)]]


def _time(message: pb.PaymentMethod | pb.Credit | pb.InvoiceItem, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None  # type: ignore[arg-type]


# -- usage ----------------------------------------------------------------------------------


class UsageOut(BaseModel):
    resource_type: str
    resource_id: int
    resource_name: str
    metric_type: str
    total_quantity: str
    total_cost: str = Field(description="Quantity x hourly price (gross), before the monthly cap.")


class UsageLineOut(BaseModel):
    resource_type: str
    resource_id: int
    description: str
    product: str
    quantity: str
    unit_price: str = Field(description="Net price per unit.")
    total: str = Field(description="Net amount, capped monthly.")
    usage_period_start: datetime | None
    usage_period_end: datetime | None
    capped: bool


class MonthlyUsageOut(BaseModel):
    month: str
    estimate: bool = Field(description="The month is still running: a month-to-date estimate.")
    currency: str
    resources: list[UsageOut]
    lines: list[UsageLineOut]
    subtotal: str
    tax_rate: str
    tax_amount: str
    total: str = Field(description="Subtotal plus VAT, before credits.")
    credits_available: str


class MonthlyUsageAnswer(BaseModel):
    usage: MonthlyUsageOut


class StatementEntryOut(BaseModel):
    at: datetime
    kind: Literal["invoice", "payment", "refund", "cancellation", "credit"]
    document: str | None = Field(description="Invoice number, payment reference or credit note number.")
    invoice_number: str | None
    amount: str = Field(description="Decimal string, never negative: the kind says which way the money went.")
    description: str


class StatementOut(BaseModel):
    currency: str
    entries: list[StatementEntryOut] = Field(description="Every document, oldest first.")
    invoiced: str = Field(description="Invoices issued and not cancelled.")
    paid: str = Field(description="Payments received.")
    refunded: str = Field(description="Refunds made.")
    outstanding: str = Field(description="What the open (pending, overdue) invoices still have due.")
    credits_available: str = Field(description="Unexpired credits' balances.")
    balance: str = Field(description="outstanding - credits_available; negative: the account is in credit.")


class StatementAnswer(BaseModel):
    statement: StatementOut


@usage_router.get("/statement")
@scope(Family.BILLING, Access.READ)
async def account_statement(request: Request, principal: Authenticated) -> StatementAnswer:
    """The tenant's statement: invoices, payments, refunds, cancellations and credits, oldest
    first, and where the account stands."""
    user_id, organization_id = tenant(principal)
    answer = await backends(request).billing.statement(user_id, organization_id)
    return StatementAnswer(
        statement=StatementOut(
            currency=answer.currency,
            entries=[
                StatementEntryOut(
                    at=e.at.ToDatetime(tzinfo=UTC),
                    kind=e.kind,  # type: ignore[arg-type]  # one of the kinds billing answers
                    document=e.document or None,
                    invoice_number=e.invoice_number or None,
                    amount=e.amount,
                    description=e.description,
                )
                for e in answer.entries
            ],
            invoiced=answer.invoiced,
            paid=answer.paid,
            refunded=answer.refunded,
            outstanding=answer.outstanding,
            credits_available=answer.credits_available,
            balance=answer.balance,
        )
    )


@usage_router.get("/usage")
@scope(Family.BILLING, Access.READ)
async def monthly_usage(
    request: Request,
    principal: Authenticated,
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; the current month if absent.")
    ] = None,
) -> MonthlyUsageAnswer:
    """The tenant's usage of a month and what its invoice comes (or would come) to."""
    user_id, organization_id = tenant(principal)
    answer = await backends(request).billing.monthly_usage(user_id, organization_id, month or "")
    return MonthlyUsageAnswer(
        usage=MonthlyUsageOut(
            month=answer.month,
            estimate=answer.estimate,
            currency=answer.currency,
            resources=[
                UsageOut(
                    resource_type=u.resource_type,
                    resource_id=u.resource_id,
                    resource_name=u.resource_name,
                    metric_type=u.metric_type,
                    total_quantity=u.total_quantity,
                    total_cost=u.total_cost,
                )
                for u in answer.usage
            ],
            lines=[
                UsageLineOut(
                    resource_type=line.resource_type,
                    resource_id=line.resource_id,
                    description=line.description,
                    product=line.product,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    total=line.total,
                    usage_period_start=_time(line, "usage_period_start"),
                    usage_period_end=_time(line, "usage_period_end"),
                    capped=line.capped,
                )
                for line in answer.lines
            ],
            subtotal=answer.subtotal,
            tax_rate=answer.tax_rate,
            tax_amount=answer.tax_amount,
            total=answer.total,
            credits_available=answer.credits_available,
        )
    )


# -- credits --------------------------------------------------------------------------------


class CreditOut(BaseModel):
    id: int
    user_id: int
    organization_id: int | None
    type: str
    amount: str
    balance: str = Field(description="What remains of it.")
    currency: str
    description: str | None
    expires_at: datetime | None
    expired: bool
    created: datetime | None


class CreditAnswer(BaseModel):
    credit: CreditOut


class CreditsAnswer(BaseModel):
    credits: list[CreditOut]
    remaining: dict[str, str] = Field(description="Usable (unexpired) balance per currency.")


class NewCredit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: OptionalBodyId = Field(default=0, description="The user; 0 with organization_id.")
    organization_id: BodyId | None = None
    type: Literal["promotional", "referral", "compensation", "manual"] = "manual"
    amount: Money
    currency: str = Field(
        default="", pattern=r"^([A-Z]{3})?$", description="ISO 4217; default: the currency the platform invoices in."
    )
    expires_at: datetime | None = None
    description: Text = Field(default="", max_length=255)


def credit_out(credit: pb.Credit) -> CreditOut:
    return CreditOut(
        id=credit.id,
        user_id=credit.user_id,
        organization_id=credit.organization_id or None,
        type=credit.type,
        amount=credit.amount,
        balance=credit.balance,
        currency=credit.currency,
        description=credit.description or None,
        expires_at=_time(credit, "expires_at"),
        expired=credit.expired,
        created=_time(credit, "created_at"),
    )


@credits_router.get("")
@scope(Family.CREDITS, Access.READ)
async def list_credits(request: Request, principal: Authenticated) -> CreditsAnswer:
    """The tenant's credits, the soonest to expire first."""
    user_id, organization_id = tenant(principal)
    answer = await backends(request).billing.list_credits(user_id, organization_id)
    return CreditsAnswer(credits=[credit_out(c) for c in answer.credits], remaining=dict(answer.remaining))


@credits_router.post("", status_code=201)
@staff(Family.CREDITS, Access.WRITE)
async def grant_credit(request: Request, principal: Authenticated, body: NewCredit) -> CreditAnswer:
    """Grant an account a credit (billing staff)."""
    grant = pb.GrantCreditRequest(
        user_id=body.user_id,
        organization_id=body.organization_id or 0,
        type=body.type,
        amount=body.amount,
        currency=body.currency,
        description=body.description,
    )
    if body.expires_at is not None:
        expires = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=UTC)
        grant.expires_at.FromDatetime(expires.astimezone(UTC))
    return CreditAnswer(credit=credit_out(await backends(request).billing.grant_credit(grant)))


# -- payment methods ------------------------------------------------------------------------


class PaymentMethodOut(BaseModel):
    id: int
    user_id: int
    organization_id: int | None
    type: str
    is_default: bool
    last_four: str | None
    card_brand: str | None
    exp_month: int | None
    exp_year: int | None
    billing_name: str | None
    billing_address: dict[str, str]
    provider_reference: str | None = Field(description="The payment provider's reference of the method.")
    paypal_email: str | None
    created: datetime | None


class PaymentMethodAnswer(BaseModel):
    payment_method: PaymentMethodOut


class PaymentMethodsAnswer(BaseModel):
    payment_methods: list[PaymentMethodOut]


class NewPaymentMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["credit_card", "paypal", "bank_transfer", "crypto"]
    provider_reference: str = Field(
        default="", max_length=255, description="The payment provider's token (pm_...); never a card number."
    )
    last_four: str = Field(default="", max_length=32, description="The card's last four digits only.")
    card_brand: str = Field(default="", max_length=20)
    exp_month: StrictInt = Field(default=0, ge=0, le=12)
    exp_year: StrictInt = Field(default=0, ge=0, le=9999)
    billing_name: str = Field(default="", max_length=255)
    billing_address: Address = Field(default_factory=dict)
    paypal_email: str = Field(default="", max_length=255)
    make_default: StrictBool = False


class PaymentMethodChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    billing_name: str | None = Field(default=None, max_length=255)
    exp_month: StrictInt | None = Field(default=None, ge=1, le=12)
    exp_year: StrictInt | None = Field(default=None, ge=0, le=9999)
    billing_address: Address | None = Field(default=None, description="Replaces the stored address.")


def payment_method_out(method: pb.PaymentMethod) -> PaymentMethodOut:
    return PaymentMethodOut(
        id=method.id,
        user_id=method.user_id,
        organization_id=method.organization_id or None,
        type=method.type,
        is_default=method.is_default,
        last_four=method.last_four or None,
        card_brand=method.card_brand or None,
        exp_month=method.exp_month or None,
        exp_year=method.exp_year or None,
        billing_name=method.billing_name or None,
        billing_address=dict(method.billing_address),
        provider_reference=method.provider_reference or None,
        paypal_email=method.paypal_email or None,
        created=_time(method, "created_at"),
    )


@payment_methods_router.get("")
@scope(Family.PAYMENT_METHODS, Access.READ)
async def list_payment_methods(request: Request, principal: Authenticated) -> PaymentMethodsAnswer:
    """The tenant's payment methods, the default first."""
    user_id, organization_id = tenant(principal)
    methods = await backends(request).billing.list_payment_methods(user_id, organization_id)
    return PaymentMethodsAnswer(payment_methods=[payment_method_out(m) for m in methods])


@payment_methods_router.post("", status_code=201)
@scope(Family.PAYMENT_METHODS, Access.WRITE)
async def add_payment_method(request: Request, principal: Authenticated, body: NewPaymentMethod) -> PaymentMethodAnswer:
    """A new payment method of the tenant (the first becomes its default)."""
    user_id, organization_id = tenant(principal)
    added = pb.AddPaymentMethodRequest(
        user_id=user_id,
        organization_id=organization_id,
        type=body.type,
        provider_reference=body.provider_reference,
        last_four=body.last_four,
        card_brand=body.card_brand,
        exp_month=body.exp_month,
        exp_year=body.exp_year,
        billing_name=body.billing_name,
        billing_address=body.billing_address,
        paypal_email=body.paypal_email,
        make_default=body.make_default,
    )
    return PaymentMethodAnswer(
        payment_method=payment_method_out(await backends(request).billing.add_payment_method(added))
    )


@payment_methods_router.get("/{id}")
@scope(Family.PAYMENT_METHODS, Access.READ)
async def get_payment_method(request: Request, principal: Authenticated, id: ResourceId) -> PaymentMethodAnswer:
    """One payment method."""
    return PaymentMethodAnswer(
        payment_method=payment_method_out(await backends(request).billing.get_payment_method(id))
    )


@payment_methods_router.put("/{id}")
@scope(Family.PAYMENT_METHODS, Access.WRITE)
async def update_payment_method(
    request: Request, principal: Authenticated, id: ResourceId, body: PaymentMethodChange
) -> PaymentMethodAnswer:
    """Change a payment method's billing name, address or expiry."""
    change = pb.UpdatePaymentMethodRequest(payment_method_id=id)
    if body.billing_name is not None:
        change.billing_name = body.billing_name
    if body.exp_month is not None:
        change.exp_month = body.exp_month
    if body.exp_year is not None:
        change.exp_year = body.exp_year
    if body.billing_address is not None:
        change.billing_address.update(body.billing_address)
        change.replace_billing_address = True
    method = await backends(request).billing.update_payment_method(change)
    return PaymentMethodAnswer(payment_method=payment_method_out(method))


@payment_methods_router.delete("/{id}", status_code=204)
@scope(Family.PAYMENT_METHODS, Access.WRITE)
async def delete_payment_method(request: Request, principal: Authenticated, id: ResourceId) -> Response:
    """Remove a payment method."""
    await backends(request).billing.delete_payment_method(id)
    return Response(status_code=204)


@payment_methods_router.post("/{id}/actions/set_default")
@scope(Family.PAYMENT_METHODS, Access.WRITE)
async def set_default_payment_method(request: Request, principal: Authenticated, id: ResourceId) -> PaymentMethodAnswer:
    """Make it the account's default payment method."""
    method = await backends(request).billing.set_default_payment_method(id)
    return PaymentMethodAnswer(payment_method=payment_method_out(method))


# -- pricing plans --------------------------------------------------------------------------


class PricingPlanOut(BaseModel):
    id: int
    name: str
    code: str
    resource_type: str
    price_hourly: str | None
    price_monthly: str | None
    price_per_gb: str | None
    included_traffic_tb: int
    overage_price_per_tb: str | None
    currency: str
    active: bool
    percentage: str | None


class PricingPlanAnswer(BaseModel):
    pricing_plan: PricingPlanOut


class PricingPlansAnswer(BaseModel):
    pricing_plans: list[PricingPlanOut]


class PricingPlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    resource_type: ResourceType
    price_hourly: Price = None
    price_monthly: Price = None
    price_per_gb: Price = None
    included_traffic_tb: StrictInt = Field(default=0, ge=0, le=100_000)
    overage_price_per_tb: Price = None
    percentage: Percentage = None
    currency: str = Field(
        default="", pattern=r"^([A-Z]{3})?$", description="ISO 4217; default: the currency the platform invoices in."
    )
    active: StrictBool = True


class NewPricingPlan(PricingPlanIn):
    code: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")


def plan_out(plan: pb.PricingPlan) -> PricingPlanOut:
    return PricingPlanOut(
        id=plan.id,
        name=plan.name,
        code=plan.code,
        resource_type=plan.resource_type,
        price_hourly=plan.price_hourly or None,
        price_monthly=plan.price_monthly or None,
        price_per_gb=plan.price_per_gb or None,
        included_traffic_tb=plan.included_traffic_tb,
        overage_price_per_tb=plan.overage_price_per_tb or None,
        currency=plan.currency,
        active=plan.active,
        percentage=plan.percentage or None,
    )


def plan_message(body: PricingPlanIn, plan_id: int = 0, code: str = "") -> pb.PricingPlan:
    return pb.PricingPlan(
        id=plan_id,
        name=body.name,
        code=code,
        resource_type=body.resource_type,
        price_hourly=body.price_hourly or "",
        price_monthly=body.price_monthly or "",
        price_per_gb=body.price_per_gb or "",
        included_traffic_tb=body.included_traffic_tb,
        overage_price_per_tb=body.overage_price_per_tb or "",
        currency=body.currency,
        active=body.active,
        percentage=body.percentage or "",
    )


@pricing_plans_router.get("")
@scope(Family.PRICING_PLANS, Access.READ)
async def list_pricing_plans(
    request: Request,
    principal: Authenticated,
    resource_type: ResourceType | None = None,
    include_inactive: Annotated[bool, Query(description="Plans no longer offered too.")] = False,
) -> PricingPlansAnswer:
    """The pricing plans."""
    plans = await backends(request).billing.list_pricing_plans(resource_type or "", include_inactive)
    return PricingPlansAnswer(pricing_plans=[plan_out(p) for p in plans])


@pricing_plans_router.get("/{id}")
@scope(Family.PRICING_PLANS, Access.READ)
async def get_pricing_plan(request: Request, principal: Authenticated, id: ResourceId) -> PricingPlanAnswer:
    """One pricing plan."""
    return PricingPlanAnswer(pricing_plan=plan_out(await backends(request).billing.get_pricing_plan(id)))


@pricing_plans_router.post("", status_code=201)
@staff(Family.PRICING_PLANS, Access.WRITE)
async def create_pricing_plan(request: Request, principal: Authenticated, body: NewPricingPlan) -> PricingPlanAnswer:
    """A new pricing plan (platform admins)."""
    plan = await backends(request).billing.create_pricing_plan(plan_message(body, code=body.code))
    return PricingPlanAnswer(pricing_plan=plan_out(plan))


@pricing_plans_router.put("/{id}")
@staff(Family.PRICING_PLANS, Access.WRITE)
async def update_pricing_plan(
    request: Request, principal: Authenticated, id: ResourceId, body: PricingPlanIn
) -> PricingPlanAnswer:
    """Change a pricing plan (platform admins); recorded usage keeps the price it had."""
    plan = await backends(request).billing.update_pricing_plan(plan_message(body, plan_id=id))
    return PricingPlanAnswer(pricing_plan=plan_out(plan))
