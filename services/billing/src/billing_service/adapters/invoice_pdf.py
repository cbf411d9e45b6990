"""An invoice as a PDF document, drawn with fpdf2.

What a customer and a tax office need on it: the invoice number, issue and due dates and the
billing period; the seller (name, address, VAT id) and the customer (account, company,
country, VAT id); a line per item with quantity, unit price and total; subtotal, VAT (or the
reverse-charge note), credits applied and the total due; the status (and the payment or credit
note when there is one). The built-in Helvetica speaks Latin-1 only, so amounts name the
currency by its ISO code and any other character is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from cloudplatform.billing.v1 import billing_service_pb2 as pb


@dataclass(frozen=True)
class Seller:
    name: str
    address: str
    vat_id: str


@dataclass(frozen=True)
class Customer:
    name: str
    country: str
    tax_id: str
    email: str


def _text(value: str) -> str:
    return value.encode("latin-1", "replace").decode("latin-1")


def render_invoice(invoice: pb.Invoice, seller: Seller, customer: Customer) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(
        invoice.issued_at.ToDatetime(tzinfo=UTC) if invoice.HasField("issued_at") else datetime(2000, 1, 1, tzinfo=UTC)
    )
    pdf.set_title(_text(f"Invoice {invoice.invoice_number}"))
    pdf.set_author(_text(seller.name))
    pdf.add_page()
    money = invoice.currency

    def line(text: str, *, size: float = 10, style: str = "", height: float = 5) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(0, height, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(seller.name, size=14, style="B", height=7)
    line(seller.address)
    line(f"VAT ID: {seller.vat_id}")
    pdf.ln(6)
    line(f"Invoice {invoice.invoice_number}", size=16, style="B", height=8)
    issued = invoice.issued_at.ToDatetime(tzinfo=UTC).date().isoformat() if invoice.HasField("issued_at") else ""
    line(f"Issued: {issued}    Due date: {invoice.due_date}    Status: {invoice.status}")
    line(f"Billing period: {invoice.period_start} to {invoice.period_end}")
    pdf.ln(4)
    line("Bill to", style="B")
    line(customer.name)
    line(f"Account: {invoice.account_type} {invoice.account_id}")
    if customer.email:
        line(customer.email)
    if customer.country:
        line(f"Country: {customer.country}")
    if customer.tax_id:
        line(f"VAT ID: {customer.tax_id}")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=9)
    with pdf.table(col_widths=(90, 25, 30, 30), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        header = table.row()
        for title in ("Description", "Quantity", f"Unit price ({money})", f"Amount ({money})"):
            header.cell(title)
        for item in invoice.items:
            row = table.row()
            period = ""
            if item.HasField("usage_period_start") and item.HasField("usage_period_end"):
                start = item.usage_period_start.ToDatetime(tzinfo=UTC)
                end = item.usage_period_end.ToDatetime(tzinfo=UTC)
                period = f" ({start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC)"
            row.cell(_text(item.description + period))
            row.cell(item.quantity)
            row.cell(item.unit_price)
            row.cell(item.total)
    pdf.ln(4)
    totals = [
        ("Subtotal", invoice.subtotal),
        (f"VAT {invoice.tax_rate} %", invoice.tax_amount),
        ("Credits applied", f"-{invoice.credits_applied}"),
        ("Total due", invoice.total),
    ]
    for label, amount in totals:
        pdf.set_font("Helvetica", style="B" if label == "Total due" else "", size=10)
        pdf.cell(145, 6, _text(label), align="R")
        pdf.cell(30, 6, f"{amount} {money}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    if invoice.notes:
        line(invoice.notes, size=9)
    if invoice.status == "paid" or invoice.payment_reference:
        line(f"Paid by {invoice.payment_method}, reference {invoice.payment_reference}.", size=9)
    if invoice.credit_note_number:
        line(f"Refunded {invoice.refunded_amount} {money} with credit note {invoice.credit_note_number}.", size=9)
    if invoice.status == "cancelled":
        line("This invoice was cancelled; nothing is due.", size=9)
    return bytes(pdf.output())
