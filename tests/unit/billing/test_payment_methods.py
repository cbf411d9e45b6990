"""What a payment method may hold: never a card number, a provider token, display data."""

from __future__ import annotations

from datetime import date

import pytest

from billing_service.domain.payment_methods import NewPaymentMethod, looks_like_card_number, luhn_valid
from cpshared.errors import InvalidInput

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "5555-5555-5555-4444",
        "card 378282246310005 amex",  # 15 digits
        "6011111111111117",
        "4222222222222",  # 13 digits
    ],
)
def test_card_numbers_are_recognised(text: str) -> None:
    assert looks_like_card_number(text)


@pytest.mark.parametrize(
    "text",
    ["pm_1QxGolden", "4242", "4242424242424241", "123456789012", "+49 30 1234567", "DE89370400440532013000", ""],
)
def test_other_text_is_not_a_card_number(text: str) -> None:
    assert not looks_like_card_number(text)


def test_luhn() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def card(**changes: object) -> NewPaymentMethod:
    fields: dict[str, object] = {
        "type": "credit_card",
        "provider_reference": "pm_123",
        "last_four": "4242",
        "exp_month": 12,
        "exp_year": 2027,
    }
    return NewPaymentMethod(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_card_is_a_token_the_last_four_and_a_valid_expiry() -> None:
    card().check(TODAY)
    card(exp_month=11, exp_year=2026).check(TODAY)  # valid through the end of its month
    for changes, message in (
        ({"provider_reference": "4242424242424242"}, "looks like a card number"),
        ({"billing_name": "4242 4242 4242 4242"}, "billing_name looks like a card number"),
        ({"billing_address": {"line1": "5555-5555-5555-4444"}}, "billing_address.line1"),
        ({"provider_reference": ""}, "needs the payment provider's token"),
        ({"provider_reference": "pm 1"}, "provider_reference is"),
        ({"last_four": "424"}, "last four digits"),
        ({"exp_month": 10, "exp_year": 2026}, "expired at the end of 2026-10"),
        ({"exp_month": 13}, "exp_month is 1 to 12"),
        ({"exp_year": 2070}, "exp_year is 2026 to 2056"),
        ({"type": "cash"}, "type 'cash'"),
    ):
        with pytest.raises(InvalidInput, match=message):
            card(**changes).check(TODAY)


def test_other_methods_need_a_reference_and_carry_no_card_data() -> None:
    NewPaymentMethod(type="paypal", paypal_email="a@example.com").check(TODAY)
    NewPaymentMethod(type="bank_transfer", provider_reference="mandate_77").check(TODAY)
    with pytest.raises(InvalidInput, match="paypal_email or"):
        NewPaymentMethod(type="paypal").check(TODAY)
    with pytest.raises(InvalidInput, match="for credit cards only"):
        NewPaymentMethod(type="crypto", provider_reference="addr_1", last_four="1234").check(TODAY)
    with pytest.raises(InvalidInput, match="not an email"):
        NewPaymentMethod(type="paypal", paypal_email="nope").check(TODAY)
