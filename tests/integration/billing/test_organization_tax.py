"""An organization's country, VAT id and name reach billing through identity's
``organization.updated``: an EU business abroad with a VAT id is invoiced with reverse charge,
the same organization without one at its country's rate."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from billing_service.adapters.tables import billing_accounts, invoices
from billing_service.config import BillingRules
from billing_service.domain.tax import REVERSE_CHARGE_NOTE
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    organization_updated,
    run_invoices,
)


def test_organization_country_and_vat_id_decide_the_tax(billing_db: tuple[str, Engine]) -> None:
    _, engine = billing_db
    apply(
        engine,
        [
            organization_created(7, 20),
            organization_created(8, 21),
            organization_updated(7, country="at", tax_id="ATU12345678", name="Acme GmbH"),
            organization_updated(8, country="AT", tax_id="ATU999"),
            organization_updated(8, tax_id=""),  # cleared: a consumer-like account again
        ],
    )
    with engine.connect() as conn:
        accounts = {r.account_id: r for r in conn.execute(sa.select(billing_accounts)).all()}
    assert (accounts[7].country, accounts[7].tax_id, accounts[7].company_name, accounts[7].owner_user_id) == (
        "AT",
        "ATU12345678",
        "Acme GmbH",
        20,
    )
    assert (accounts[8].country, accounts[8].tax_id) == ("AT", None)
    apply(engine, hours(1, OCTOBER, 744, user_id=20, organization_id=7, product="cx32"))
    apply(engine, hours(2, OCTOBER + timedelta(days=1), 744, user_id=21, organization_id=8, product="cx32"))
    run_invoices(engine, OCTOBER.date(), BillingRules())
    with engine.connect() as conn:
        rows = {r.account_id: r for r in conn.execute(sa.select(invoices)).all()}
    assert (rows[7].subtotal, rows[7].tax_rate, rows[7].tax_amount, rows[7].notes) == (
        Decimal("5.71"),
        Decimal("0.00"),
        Decimal("0.00"),
        REVERSE_CHARGE_NOTE,
    )
    assert (rows[8].tax_rate, rows[8].tax_amount, rows[8].notes) == (Decimal("20.00"), Decimal("1.14"), None)
