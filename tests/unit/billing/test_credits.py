"""Credit grants on in-memory fakes: granted in the currency the platform invoices in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_service.domain.commands import GrantCredit
from billing_service.service_layer import credit_grants
from cpshared.errors import InvalidInput
from tests.clocks import installed_clock
from tests.unit.billing.fakes import FakeDatabase


def _grant(currency: str) -> GrantCredit:
    return GrantCredit(
        user_id=10,
        organization_id=None,
        kind="promotional",
        amount="5.00",
        currency=currency,
        expires_at=None,
        description="welcome",
    )


def test_a_credit_is_granted_in_the_invoicing_currency_unless_named() -> None:
    database = FakeDatabase()
    with installed_clock(datetime(2026, 11, 5, tzinfo=UTC)):
        default = credit_grants.grant(_grant(""), database.uow(), "EUR")
        named = credit_grants.grant(_grant("eur"), database.uow(), "EUR")
        swiss = credit_grants.grant(_grant(""), database.uow(), "CHF")
    assert (default.currency, named.currency, swiss.currency) == ("EUR", "EUR", "CHF")
    assert [event.spec.event_type for event in database.data.outbox] == ["credit.granted"] * 3


def test_a_credit_in_another_currency_is_refused_and_nothing_is_granted() -> None:
    database = FakeDatabase()
    with installed_clock(datetime(2026, 11, 5, tzinfo=UTC)), pytest.raises(InvalidInput) as refused:
        credit_grants.grant(_grant("USD"), database.uow(), "EUR")
    assert "invoiced in EUR" in str(refused.value) and "grant it in EUR" in str(refused.value)
    assert database.data.credits == {} and database.data.outbox == []
