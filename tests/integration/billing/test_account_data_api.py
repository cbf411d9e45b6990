"""BillingService over real gRPC: payment methods (no card numbers, one default per account
kept by the database), credits (staff grant, accounts list with what remains), pricing plans
(admins write, everyone reads, seeded) and the monthly usage with its estimate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
import sqlalchemy as sa
from grpc import aio
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from billing_service.adapters.tables import payment_methods
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.clock import ManualClock, set_clock
from cpshared.events.envelope import parse_envelope
from cpshared.events.tables import outbox
from tests.integration.audit.conftest import as_service, as_user
from tests.integration.billing.support import OCTOBER, apply, hours, profile_updated, run_invoices, user_created
from tests.integration.billing.test_invoice_life import RULES

CARD = {"type": "credit_card", "provider_reference": "pm_1Qx", "last_four": "4242", "card_brand": "visa"}


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


async def code_of(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    return failed.value.code(), failed.value.details() or ""


def card(**changes: object) -> pb.AddPaymentMethodRequest:
    fields: dict[str, object] = {"user_id": 10, **CARD, "exp_month": 12, "exp_year": 2028, **changes}
    return pb.AddPaymentMethodRequest(**fields)  # type: ignore[arg-type]


async def test_payment_methods(
    billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub, clock: ManualClock
) -> None:
    _, engine = billing_db
    for pan in ("4242424242424242", "4242 4242 4242 4242", "5555-5555-5555-4444"):
        for field in ("provider_reference", "billing_name", "last_four"):
            code, details = await code_of(stub.AddPaymentMethod(card(**{field: pan}), metadata=as_user(10)))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and "looks like a card number" in details, field
    address = pb.AddPaymentMethodRequest(user_id=10, **CARD, exp_month=1, exp_year=2027)  # type: ignore[arg-type]
    address.billing_address["line1"] = "4111111111111111"
    assert (await code_of(stub.AddPaymentMethod(address, metadata=as_user(10))))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert (await code_of(stub.AddPaymentMethod(card(last_four="42"), metadata=as_user(10))))[0] == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (await code_of(stub.AddPaymentMethod(card(exp_month=13), metadata=as_user(10))))[0] == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (await code_of(stub.AddPaymentMethod(card(), metadata=as_user(11))))[0] == grpc.StatusCode.PERMISSION_DENIED
    first = (await stub.AddPaymentMethod(card(), metadata=as_user(10))).payment_method
    assert (first.is_default, first.last_four, first.provider_reference) == (True, "4242", "pm_1Qx")
    paypal = pb.AddPaymentMethodRequest(user_id=10, type="paypal", paypal_email="a@example.com")
    second = (await stub.AddPaymentMethod(paypal, metadata=as_user(10))).payment_method
    assert not second.is_default
    made = await stub.SetDefaultPaymentMethod(
        pb.SetDefaultPaymentMethodRequest(payment_method_id=second.id), metadata=as_user(10)
    )
    assert made.payment_method.is_default
    listed = (
        await stub.ListPaymentMethods(pb.ListPaymentMethodsRequest(user_id=10), metadata=as_user(10))
    ).payment_methods
    assert [(m.id, m.is_default) for m in listed] == [(second.id, True), (first.id, False)]
    # Another tenant's method is not there; the database refuses a second default by itself.
    assert (
        await code_of(
            stub.GetPaymentMethod(pb.GetPaymentMethodRequest(payment_method_id=first.id), metadata=as_user(11))
        )
    )[0] == grpc.StatusCode.NOT_FOUND
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(payment_methods.update().where(payment_methods.c.id == first.id).values(is_default=True))
    # Concurrent "set default" calls end with exactly one default.
    await asyncio.gather(
        *(
            stub.SetDefaultPaymentMethod(pb.SetDefaultPaymentMethodRequest(payment_method_id=i), metadata=as_user(10))
            for i in (first.id, second.id, first.id, second.id)
        ),
        return_exceptions=True,
    )
    with engine.connect() as conn:
        defaults = conn.execute(
            sa.select(sa.func.count()).select_from(payment_methods).where(payment_methods.c.is_default.is_(True))
        ).scalar_one()
    assert defaults == 1
    updated = await stub.UpdatePaymentMethod(
        pb.UpdatePaymentMethodRequest(payment_method_id=first.id, billing_name="Ada", exp_year=2030),
        metadata=as_user(10),
    )
    assert (updated.payment_method.billing_name, updated.payment_method.exp_year) == ("Ada", 2030)
    await stub.DeletePaymentMethod(pb.DeletePaymentMethodRequest(payment_method_id=second.id), metadata=as_user(10))
    left = (
        await stub.ListPaymentMethods(pb.ListPaymentMethodsRequest(user_id=10), metadata=as_user(10))
    ).payment_methods
    assert [(m.id, m.is_default) for m in left] == [(first.id, True)]  # the remaining one became the default
    with engine.connect() as conn:
        envelopes = [parse_envelope(r.envelope) for r in conn.execute(sa.select(outbox.c.envelope))]
    kinds = {e.event_type for e in envelopes}
    assert {
        "payment_method.added",
        "payment_method.default_set",
        "payment_method.updated",
        "payment_method.removed",
    } <= kinds
    assert all(b"pm_1Qx" not in e.SerializeToString() for e in envelopes)  # no provider token in events


async def test_credits_pricing_plans_and_monthly_usage(
    billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub, clock: ManualClock
) -> None:
    _, engine = billing_db
    grant = pb.GrantCreditRequest(user_id=10, type="promotional", amount="5.00", currency="EUR", description="welcome")
    grant.expires_at.FromDatetime(datetime(2027, 1, 1, tzinfo=UTC))
    assert (await code_of(stub.GrantCredit(grant, metadata=as_user(10))))[0] == grpc.StatusCode.PERMISSION_DENIED
    bad = pb.GrantCreditRequest(user_id=10, type="gift", amount="5.00")
    assert (await code_of(stub.GrantCredit(bad, metadata=as_user(1, role="admin"))))[
        0
    ] == grpc.StatusCode.INVALID_ARGUMENT
    # The platform invoices in EUR: a USD credit would never apply, so it is refused at grant time.
    dollars = pb.GrantCreditRequest(user_id=10, type="promotional", amount="5.00", currency="usd")
    refused = await code_of(stub.GrantCredit(dollars, metadata=as_user(1, role="admin")))
    assert refused[0] == grpc.StatusCode.INVALID_ARGUMENT and "invoiced in EUR" in refused[1], refused
    granted = (await stub.GrantCredit(grant, metadata=as_user(2, role="billing"))).credit
    assert (granted.amount, granted.balance, granted.type) == ("5.00", "5.00", "promotional")
    await stub.GrantCredit(
        pb.GrantCreditRequest(user_id=10, type="manual", amount="1.50"), metadata=as_user(1, role="admin")
    )
    # Usage: 200 h of a cx22 in October (0.006/h gross -> 1.20, under the 3.79 cap), user in DE.
    apply(engine, [user_created(10), profile_updated(10, "DE"), *hours(1, OCTOBER, 200, user_id=10)])
    usage = await stub.GetMonthlyUsage(pb.GetMonthlyUsageRequest(user_id=10), metadata=as_user(10))
    assert (usage.month, usage.estimate) == ("2026-10", True)  # the clock is in October: month to date
    assert [(u.resource_id, u.metric_type, u.total_quantity, u.total_cost) for u in usage.usage] == [
        (1, "compute_hours", "200.000000", "1.200000")
    ]
    # net 1.20 / 1.19 = 1.01; 19 % VAT 0.19; total 1.20
    assert (usage.subtotal, usage.tax_rate, usage.tax_amount, usage.total, usage.credits_available) == (
        "1.01",
        "19",
        "0.19",
        "1.20",
        "6.50",
    )
    assert (await code_of(stub.GetMonthlyUsage(pb.GetMonthlyUsageRequest(user_id=10), metadata=as_user(11))))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    clock.advance(timedelta(days=20))  # November: October is closed; the invoice uses the credits
    run_invoices(engine, OCTOBER.date(), RULES)
    october = await stub.GetMonthlyUsage(pb.GetMonthlyUsageRequest(user_id=10, month="2026-10"), metadata=as_user(10))
    assert (october.estimate, october.total, october.credits_available) == (False, "1.20", "5.30")
    credits = await stub.ListCredits(pb.ListCreditsRequest(user_id=10), metadata=as_user(10))
    assert [(c.type, c.balance) for c in credits.credits] == [("promotional", "3.80"), ("manual", "1.50")]
    assert dict(credits.remaining) == {"EUR": "5.30"}
    assert (
        await code_of(
            stub.GetMonthlyUsage(pb.GetMonthlyUsageRequest(user_id=10, month="10/2026"), metadata=as_user(10))
        )
    )[0] == grpc.StatusCode.INVALID_ARGUMENT
    # Pricing plans: seeded, everyone reads, admins write.
    listed = await stub.ListPricingPlans(pb.ListPricingPlansRequest(), metadata=as_user(10))
    plans = listed.pricing_plans
    assert Decimal(listed.included_tax_rate) == Decimal(19)  # the seller's VAT in every gross price
    assert {p.code for p in plans} >= {"volume", "floating_ip_ipv4", "lb11", "traffic"}
    volume = next(p for p in plans if p.code == "volume")
    assert (volume.resource_type, volume.price_per_gb, volume.currency) == ("volume", "0.044000", "EUR")
    new = pb.PricingPlan(
        name="LB41", code="lb41", resource_type="load_balancer", price_hourly="0.1", price_monthly="60"
    )
    assert (await code_of(stub.CreatePricingPlan(pb.CreatePricingPlanRequest(pricing_plan=new), metadata=as_user(10))))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
    created = (
        await stub.CreatePricingPlan(pb.CreatePricingPlanRequest(pricing_plan=new), metadata=as_user(1, role="admin"))
    ).pricing_plan
    assert (created.price_hourly, created.price_monthly, created.currency, created.active) == (
        "0.100000",
        "60.00",
        "EUR",
        False,
    )
    assert (
        await code_of(
            stub.CreatePricingPlan(pb.CreatePricingPlanRequest(pricing_plan=new), metadata=as_user(1, role="admin"))
        )
    )[0] == (grpc.StatusCode.ALREADY_EXISTS)
    precise = pb.PricingPlan(name="x", code="x1", resource_type="volume", price_per_gb="0.0000001")
    assert (
        await code_of(
            stub.CreatePricingPlan(pb.CreatePricingPlanRequest(pricing_plan=precise), metadata=as_user(1, role="admin"))
        )
    )[0] == grpc.StatusCode.INVALID_ARGUMENT
    changed = pb.PricingPlan(
        id=created.id,
        name="LB41",
        resource_type="load_balancer",
        price_hourly="0.1",
        price_monthly="59.90",
        active=True,
    )
    after = (
        await stub.UpdatePricingPlan(pb.UpdatePricingPlanRequest(pricing_plan=changed), metadata=as_service())
    ).pricing_plan
    assert (after.price_monthly, after.active, after.code) == ("59.90", True, "lb41")
