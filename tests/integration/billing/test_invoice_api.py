"""BillingService's invoice RPCs over real gRPC: who sees which invoices, the line items, the
PDF (read back as text with pypdf), and the staff actions with their refusals."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import grpc
import pypdf
import pytest
from grpc import aio
from sqlalchemy.engine import Engine

from billing_service.domain.tax import REVERSE_CHARGE_NOTE
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from tests.clocks import installed_clock
from tests.integration.audit.conftest import as_service, as_user
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    profile_updated,
    run_invoices,
    user_created,
)
from tests.integration.billing.test_invoice_life import RULES

ORG = 7
NOVEMBER_5 = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)


def seed(engine: Engine) -> dict[tuple[str, int], int]:
    """User 10 (own servers), organization 7 (owner 20) billed in AT with a VAT id."""
    apply(engine, [user_created(10), user_created(20), organization_created(ORG, 20)])
    apply(
        engine,
        hours(1, OCTOBER, 48, user_id=10) + hours(2, OCTOBER + timedelta(days=3), 744, user_id=20, organization_id=ORG),
    )
    report = run_invoices(engine, OCTOBER.date(), RULES)
    return {(i.account.account_type, i.account.account_id): i.invoice_id for i in report.issued}


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(aio.AioRpcError) as failed:
        await call  # type: ignore[misc]
    return failed.value.code()


async def test_invoices_are_scoped_to_the_caller(
    billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub
) -> None:
    _, engine = billing_db
    ids = seed(engine)
    mine = await stub.ListInvoices(pb.ListInvoicesRequest(user_id=10), metadata=as_user(10))
    assert [i.id for i in mine.invoices] == [ids[("user", 10)]] and mine.total_entries == 1
    for role in ("owner", "admin", "billing"):
        org = await stub.ListInvoices(
            pb.ListInvoicesRequest(user_id=30, organization_id=ORG), metadata=as_user(30, organizations={ORG: role})
        )
        assert [i.id for i in org.invoices] == [ids[("organization", ORG)]]
    member = stub.ListInvoices(
        pb.ListInvoicesRequest(user_id=30, organization_id=ORG), metadata=as_user(30, organizations={ORG: "member"})
    )
    assert await code_of(member) == grpc.StatusCode.NOT_FOUND
    assert await code_of(stub.ListInvoices(pb.ListInvoicesRequest(user_id=10), metadata=as_user(11))) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await code_of(stub.ListInvoices(pb.ListInvoicesRequest(all_accounts=True), metadata=as_user(10)))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    for staff in (as_user(1, role="admin"), as_user(2, role="billing"), as_service()):
        every = await stub.ListInvoices(pb.ListInvoicesRequest(all_accounts=True), metadata=staff)
        assert every.total_entries == 2
    # one invoice: its owner and the organization's billing members; anyone else NOT_FOUND
    org_invoice = ids[("organization", ORG)]
    got = await stub.GetInvoice(
        pb.GetInvoiceRequest(invoice_id=org_invoice), metadata=as_user(31, organizations={ORG: "billing"})
    )
    assert got.invoice.invoice_number == "INV-2026-10-0001" and len(got.invoice.items) == 1
    item = got.invoice.items[0]
    assert (item.product, item.quantity, item.capped, item.resource_id) == (
        "cx22",
        "672.0000",
        True,
        2,
    )  # Oct 4 to the month end
    for outsider in (as_user(10), as_user(31, organizations={ORG: "member"}), as_user(32, role="support")):
        assert await code_of(stub.GetInvoice(pb.GetInvoiceRequest(invoice_id=org_invoice), metadata=outsider)) == (
            grpc.StatusCode.NOT_FOUND
        )
    assert await code_of(stub.GetInvoice(pb.GetInvoiceRequest(invoice_id=999), metadata=as_user(1, role="admin"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    filtered = await stub.ListInvoices(
        pb.ListInvoicesRequest(all_accounts=True, status="paid"), metadata=as_user(1, role="admin")
    )
    assert filtered.total_entries == 0


async def test_the_pdf_reads_back_with_the_invoices_figures(
    billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub
) -> None:
    _, engine = billing_db
    apply(engine, [user_created(40), profile_updated(40, "AT", "ATU12345678")])
    apply(engine, hours(5, OCTOBER, 744, user_id=40, product="cx32"))
    (issued,) = run_invoices(engine, OCTOBER.date(), RULES).issued
    answer = await stub.GetInvoicePdf(pb.GetInvoicePdfRequest(invoice_id=issued.invoice_id), metadata=as_user(40))
    assert answer.filename == "INV-2026-10-0001.pdf"
    reader = pypdf.PdfReader(io.BytesIO(answer.pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    invoice = (await stub.GetInvoice(pb.GetInvoiceRequest(invoice_id=issued.invoice_id), metadata=as_user(40))).invoice
    assert (invoice.subtotal, invoice.tax_rate, invoice.total) == ("5.71", "0.00", "5.71")
    for expected in (
        "Invoice INV-2026-10-0001",
        "Cloud Platform GmbH",
        "VAT ID: ATU12345678",
        "Country: AT",
        "Billing period: 2026-10-01 to 2026-10-31",
        f"Due date: {invoice.due_date}",
        invoice.items[0].description,
        "Subtotal",
        "5.71 EUR",
        "VAT 0.00 %",
        "Total due",
        "Reverse charge",
    ):
        assert expected in text, expected
    assert REVERSE_CHARGE_NOTE.split(":")[0] in text
    assert (
        await code_of(stub.GetInvoicePdf(pb.GetInvoicePdfRequest(invoice_id=issued.invoice_id), metadata=as_user(41)))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_staff_actions(billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub) -> None:
    _, engine = billing_db
    with installed_clock(NOVEMBER_5):
        await staff_actions(engine, stub)


async def staff_actions(engine: Engine, stub: pb_grpc.BillingServiceAsyncStub) -> None:
    """October invoiced in November: the credit note is numbered by the month it is issued in."""
    ids = seed(engine)
    mine = ids[("user", 10)]
    pay = pb.RecordPaymentRequest(invoice_id=mine, amount="0.29", method="credit_card", reference="pi_9")
    assert await code_of(stub.RecordPayment(pay, metadata=as_user(10))) == grpc.StatusCode.PERMISSION_DENIED
    # not a payment (nothing paid); a part or more than due is a payment (the ledger tests have them)
    wrong = pb.RecordPaymentRequest(invoice_id=mine, amount="0.00", method="credit_card", reference="pi_9")
    assert await code_of(stub.RecordPayment(wrong, metadata=as_user(2, role="billing"))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    paid = await stub.RecordPayment(pay, metadata=as_user(2, role="billing"))
    assert (paid.invoice.status, paid.invoice.payment_reference, paid.invoice.HasField("paid_at")) == (
        "paid",
        "pi_9",
        True,
    )
    cancel = pb.CancelInvoiceRequest(invoice_id=mine, reason="x")
    assert await code_of(stub.CancelInvoice(cancel, metadata=as_user(1, role="admin"))) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    refunded = await stub.RefundInvoice(
        pb.RefundInvoiceRequest(invoice_id=mine, reason="goodwill", refund_to="account_credit"),
        metadata=as_user(1, role="admin"),
    )
    assert (refunded.invoice.status, refunded.invoice.credit_note_number) == ("refunded", "CN-2026-11-0001")
    cancelled = await stub.CancelInvoice(
        pb.CancelInvoiceRequest(invoice_id=ids[("organization", ORG)], reason="test account"), metadata=as_service()
    )
    assert cancelled.invoice.status == "cancelled"
