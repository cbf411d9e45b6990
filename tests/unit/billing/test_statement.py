"""The account statement's rules: documents in date order, and where the account stands."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing_service.domain.statement import (
    StatementCredit,
    StatementInvoice,
    StatementMovement,
    statement,
)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_documents_oldest_first_and_what_the_account_owes() -> None:
    found = statement(
        "EUR",
        [
            StatementInvoice("INV-2026-10-0001", "paid", Decimal("6.79"), Decimal("6.79"), at(2)),
            StatementInvoice("INV-2026-10-0002", "overdue", Decimal("10.00"), Decimal("4.00"), at(2, 1)),
            StatementInvoice("INV-2026-10-0003", "cancelled", Decimal("3.00"), Decimal("0.00"), at(2, 2), at(5)),
        ],
        [
            StatementMovement("payment", "INV-2026-10-0001", Decimal("6.79"), "credit_card", "pi_1", at(3)),
            StatementMovement("payment", "INV-2026-10-0002", Decimal("4.00"), "bank_transfer", "tr-1", at(4)),
            StatementMovement("refund", "INV-2026-10-0001", Decimal("1.00"), "payment_method", "CN-1", at(6)),
        ],
        [
            StatementCredit("promotional", Decimal("5.00"), Decimal("2.50"), "welcome", at(1), expired=False),
            StatementCredit("referral", Decimal("9.00"), Decimal("9.00"), "", at(1, 1), expired=True),
        ],
    )
    assert [(e.kind, e.document, e.amount) for e in found.entries] == [
        ("credit", "", Decimal("5.00")),
        ("credit", "", Decimal("9.00")),
        ("invoice", "INV-2026-10-0001", Decimal("6.79")),
        ("invoice", "INV-2026-10-0002", Decimal("10.00")),
        ("invoice", "INV-2026-10-0003", Decimal("3.00")),
        ("payment", "pi_1", Decimal("6.79")),
        ("payment", "tr-1", Decimal("4.00")),
        ("cancellation", "INV-2026-10-0003", Decimal("3.00")),
        ("refund", "CN-1", Decimal("1.00")),
    ]
    assert found.entries[1].description == "referral credit"
    assert "by bank transfer" in found.entries[6].description
    # invoiced excludes the cancelled one; only open invoices are outstanding; expired credits do not count
    assert (found.invoiced, found.paid, found.refunded) == (Decimal("16.79"), Decimal("10.79"), Decimal("1.00"))
    assert (found.outstanding, found.credits_available, found.balance) == (
        Decimal("6.00"),
        Decimal("2.50"),
        Decimal("3.50"),
    )


def test_an_account_with_nothing_is_even() -> None:
    empty = statement("EUR", [], [], [])
    assert (empty.entries, empty.outstanding, empty.balance) == ([], Decimal("0.00"), Decimal("0.00"))
