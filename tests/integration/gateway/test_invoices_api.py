"""/v1/invoices end to end through the gateway: identity, the gateway and billing served for real
(tests/integration/live.py). Usage enters billing through its projection, the invoice run
issues the invoices; a client sees its own, an organization's billing member the
organization's (with its key bound to it), a plain member nothing of it, another tenant 404;
the PDF reads back; billing staff record a payment, refund and cancel, clients may not."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
import pypdf
import pytest

from billing_service.config import BillingRules
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.clock import utcnow
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from tests.integration.billing.support import (
    OCTOBER,
    apply,
    hours,
    organization_created,
    profile_updated,
    run_invoices,
    user_created,
)
from tests.integration.live import LivePlatform, live_platform


@dataclass
class Scene:
    platform: LivePlatform
    keys: dict[str, str]
    users: dict[str, int]
    organization: int
    invoices: dict[str, int]

    def call(self, who: str, method: str, path: str, body: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.request(method, f"{self.platform.gateway}{path}", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def scene(paths: LocalPaths) -> Iterator[Scene]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_inv_id") as identity_url,
        mariadb.scratch_database("cp_test_inv_gw") as gateway_url,
        mariadb.scratch_database("cp_test_inv_bi") as billing_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("billing", migrations_dir("billing"), billing_url)
        with live_platform(identity_url, gateway_url, billing_url=billing_url) as platform:
            uow = platform.identity.uow
            user_ids: dict[str, int] = {}
            roles = {"admin": UserRole.ADMIN, "billing": UserRole.BILLING}
            for name in ("alice", "bob", "owner", "payer", "member", "admin", "billing"):
                email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
                cmd = commands.CreateUser(
                    name=name,
                    email=email,
                    password="a long enough password",
                    role=roles.get(name, UserRole.CLIENT),
                    status=UserStatus.ACTIVE,
                )
                user_ids[name] = users.create_user(cmd, uow()).id
            slug = f"acme-{uuid.uuid4().hex[:6]}"
            organization, _ = organizations.create_organization(
                commands.CreateOrganization(acting_user_id=user_ids["owner"], name=slug, slug=slug), uow()
            )
            for name, role in (("payer", OrganizationRole.BILLING), ("member", OrganizationRole.MEMBER)):
                organizations.add_member(
                    commands.AddMember(
                        acting_user_id=user_ids["owner"],
                        organization_id=organization.id,
                        user_id=user_ids[name],
                        role=role,
                    ),
                    uow(),
                )
            keys: dict[str, str] = {}
            for name, user_id in user_ids.items():
                bound = organization.id if name in ("payer", "member", "owner") else None
                _, keys[name] = api_keys.create_api_key(
                    commands.CreateApiKey(
                        user_id=user_id, name=name, scopes=("*:read", "*:write"), organization_id=bound
                    ),
                    uow(),
                )
            engine = platform.billing
            assert engine is not None
            apply(
                engine,
                [
                    user_created(user_ids["alice"]),
                    user_created(user_ids["bob"]),
                    profile_updated(user_ids["bob"], "AT", "ATU12345678"),
                    organization_created(organization.id, user_ids["owner"]),
                ],
            )
            apply(engine, hours(1, OCTOBER, 744, user_id=user_ids["alice"], product="cx32"))
            apply(engine, hours(2, OCTOBER + timedelta(days=10), 24, user_id=user_ids["bob"]))
            apply(engine, hours(3, OCTOBER, 100, user_id=user_ids["owner"], organization_id=organization.id))
            report = run_invoices(engine, OCTOBER.date(), BillingRules())
            by_account = {(i.account.account_type, i.account.account_id): i.invoice_id for i in report.issued}
            invoices = {
                "alice": by_account[("user", user_ids["alice"])],
                "bob": by_account[("user", user_ids["bob"])],
                "acme": by_account[("organization", organization.id)],
            }
            yield Scene(platform, keys, user_ids, organization.id, invoices)


def test_each_caller_sees_its_tenants_invoices(scene: Scene) -> None:
    mine = scene.call("alice", "GET", "/v1/invoices")
    assert mine.status_code == 200, mine.text
    assert [i["id"] for i in mine.json()["invoices"]] == [scene.invoices["alice"]]
    assert mine.json()["meta"]["pagination"]["total_entries"] == 1
    assert mine.json()["invoices"][0]["items"] is None
    for who in ("payer", "owner"):
        org = scene.call(who, "GET", "/v1/invoices").json()
        assert [i["id"] for i in org["invoices"]] == [scene.invoices["acme"]], who
    assert scene.call("member", "GET", "/v1/invoices").status_code == 404
    staff = scene.call("billing", "GET", "/v1/invoices?per_page=2").json()
    assert staff["meta"]["pagination"]["total_entries"] == 3 and len(staff["invoices"]) == 2
    one = scene.call("alice", "GET", f"/v1/invoices/{scene.invoices['alice']}")
    assert one.status_code == 200
    invoice = one.json()["invoice"]
    # 744 h of cx32 capped at 6.80 gross: 5.71 net + 19 % VAT (1.08) = 6.79
    assert re.fullmatch(r"INV-2026-10-000[1-3]", invoice["number"])
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total"]) == (
        "5.71",
        "1.08",
        "6.79",
    )
    assert [(i["product"], i["quantity"], i["capped"]) for i in invoice["items"]] == [("cx32", "744.0000", True)]
    for outsider, invoice_id in (("bob", scene.invoices["alice"]), ("member", scene.invoices["acme"])):
        answer = scene.call(outsider, "GET", f"/v1/invoices/{invoice_id}")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    bad = scene.call("alice", "GET", "/v1/invoices?status=late")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"


def test_the_pdf_of_a_reverse_charge_invoice(scene: Scene) -> None:
    answer = scene.call("bob", "GET", f"/v1/invoices/{scene.invoices['bob']}/pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(answer.content)).pages)
    invoice = scene.call("bob", "GET", f"/v1/invoices/{scene.invoices['bob']}").json()["invoice"]
    assert invoice["tax_rate"] == "0.00" and invoice["notes"].startswith("Reverse charge")
    for expected in (invoice["number"], "VAT ID: ATU12345678", "Reverse charge", f"{invoice['total']} EUR"):
        assert expected in text, expected
    assert scene.call("alice", "GET", f"/v1/invoices/{scene.invoices['bob']}/pdf").status_code == 404


def test_staff_record_payments_and_refund_clients_may_not(scene: Scene) -> None:
    path = f"/v1/invoices/{scene.invoices['alice']}/actions"
    pay = {"amount": "6.79", "method": "credit_card", "reference": "pi_e2e"}
    denied = scene.call("alice", "POST", f"{path}/pay", pay)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    # Paid in two parts: the first leaves it pending; a repeated reference is a conflict.
    partial = scene.call("billing", "POST", f"{path}/pay", {**pay, "amount": "5.00", "reference": "tr-1"})
    assert partial.status_code == 200, partial.text
    assert (partial.json()["invoice"]["status"], partial.json()["invoice"]["amount_paid"]) == ("pending", "5.00")
    again = scene.call("billing", "POST", f"{path}/pay", {**pay, "amount": "5.00", "reference": "tr-1"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict", again.text
    nothing = scene.call("billing", "POST", f"{path}/pay", {**pay, "amount": "0.00"})
    assert nothing.status_code == 400 and nothing.json()["error"]["code"] == "invalid_input"
    paid = scene.call("billing", "POST", f"{path}/pay", {**pay, "amount": "1.79"})
    assert paid.status_code == 200, paid.text
    invoice = paid.json()["invoice"]
    assert (invoice["status"], invoice["payment_reference"], invoice["amount_paid"]) == ("paid", "pi_e2e", "6.79")
    assert [(p["kind"], p["amount"], p["reference"]) for p in invoice["payments"]] == [
        ("payment", "5.00", "tr-1"),
        ("payment", "1.79", "pi_e2e"),
    ]
    assert (
        scene.call("alice", "GET", f"/v1/invoices/{scene.invoices['alice']}").json()["invoice"]["payments"][0]["method"]
        == "credit_card"
    )
    cancel = scene.call("admin", "POST", f"{path}/cancel", {"reason": "late"})
    assert cancel.status_code == 412 and cancel.json()["error"]["code"] == "precondition_failed"
    refund = scene.call("admin", "POST", f"{path}/refund", {"reason": "goodwill", "refund_to": "account_credit"})
    assert refund.status_code == 200, refund.text
    assert refund.json()["invoice"]["status"] == "refunded"
    assert refund.json()["invoice"]["credit_note_number"].startswith("CN-")
    assert scene.call("alice", "GET", "/v1/invoices?status=refunded").json()["meta"]["pagination"]["total_entries"] == 1
    cancelled = scene.call("billing", "POST", f"/v1/invoices/{scene.invoices['acme']}/actions/cancel", {"reason": "x"})
    assert cancelled.status_code == 200 and cancelled.json()["invoice"]["status"] == "cancelled"


def test_payment_methods_through_the_gateway(scene: Scene) -> None:
    card = {
        "type": "credit_card",
        "provider_reference": "pm_card_1",
        "last_four": "4242",
        "exp_month": 8,
        "exp_year": utcnow().year + 5,  # never expired, whatever the year the suite runs in
    }
    refused = scene.call("alice", "POST", "/v1/payment_methods", {**card, "provider_reference": "4242424242424242"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
    assert "looks like a card number" in refused.json()["error"]["message"]
    first = scene.call("alice", "POST", "/v1/payment_methods", card)
    assert first.status_code == 201, first.text
    assert first.json()["payment_method"]["is_default"] is True
    second = scene.call("alice", "POST", "/v1/payment_methods", {"type": "paypal", "paypal_email": "a@example.com"})
    second_id = second.json()["payment_method"]["id"]
    assert second.json()["payment_method"]["is_default"] is False
    made = scene.call("alice", "POST", f"/v1/payment_methods/{second_id}/actions/set_default")
    assert made.status_code == 200 and made.json()["payment_method"]["is_default"] is True
    listed = scene.call("alice", "GET", "/v1/payment_methods").json()["payment_methods"]
    assert [(m["id"], m["is_default"]) for m in listed] == [(second_id, True), (listed[1]["id"], False)]
    assert scene.call("bob", "GET", f"/v1/payment_methods/{second_id}").status_code == 404
    # The organization's billing member manages the organization's methods (its key is bound to it).
    org_card = scene.call("payer", "POST", "/v1/payment_methods", {**card, "provider_reference": "pm_org"})
    assert org_card.json()["payment_method"]["organization_id"] == scene.organization
    assert scene.call("member", "GET", "/v1/payment_methods").status_code == 404
    changed = scene.call("alice", "PUT", f"/v1/payment_methods/{second_id}", {"billing_name": "Alice A."})
    assert changed.json()["payment_method"]["billing_name"] == "Alice A."
    assert scene.call("alice", "DELETE", f"/v1/payment_methods/{second_id}").status_code == 204


def test_credits_pricing_plans_and_usage_through_the_gateway(scene: Scene) -> None:
    grant = {"user_id": scene.users["bob"], "type": "referral", "amount": "2.50", "expires_at": "2030-01-01T00:00:00Z"}
    assert scene.call("bob", "POST", "/v1/credits", grant).status_code == 403
    dollars = scene.call("billing", "POST", "/v1/credits", {**grant, "currency": "USD"})
    assert dollars.status_code == 400 and dollars.json()["error"]["code"] == "invalid_input", dollars.text
    assert "grant it in EUR" in dollars.json()["error"]["message"]
    granted = scene.call("billing", "POST", "/v1/credits", grant)
    assert granted.status_code == 201, granted.text
    mine = scene.call("bob", "GET", "/v1/credits").json()
    assert [(c["type"], c["balance"]) for c in mine["credits"]] == [("referral", "2.50")]
    assert mine["remaining"] == {"EUR": "2.50"}
    # Alice's refunded invoice became a compensation credit (test_staff_record_payments_and_refund...).
    alice = scene.call("alice", "GET", "/v1/credits").json()["credits"]
    assert [(c["type"], c["amount"], c["description"][:14]) for c in alice] == [
        ("compensation", "6.79", "Credit note CN")
    ]
    plans = scene.call("alice", "GET", "/v1/pricing_plans?resource_type=floating_ip").json()["pricing_plans"]
    assert {p["code"] for p in plans} == {"floating_ip_ipv4", "floating_ip_ipv6"}
    new = {"code": "vol-fast", "name": "Fast volume", "resource_type": "volume", "price_per_gb": "0.080000"}
    assert scene.call("billing", "POST", "/v1/pricing_plans", new).status_code == 403
    created = scene.call("admin", "POST", "/v1/pricing_plans", new)
    assert created.status_code == 201 and created.json()["pricing_plan"]["price_per_gb"] == "0.080000"
    october = scene.call("alice", "GET", "/v1/billing/usage?month=2026-10")
    assert october.status_code == 200, october.text
    usage = october.json()["usage"]
    assert (usage["estimate"], usage["subtotal"], usage["total"]) == (False, "5.71", "6.79")
    assert [(r["resource_id"], r["total_quantity"]) for r in usage["resources"]] == [(1, "744.000000")]
    now = scene.call("alice", "GET", "/v1/billing/usage").json()["usage"]
    assert now["estimate"] is True and now["resources"] == []
    bad = scene.call("alice", "GET", "/v1/billing/usage?month=2026-13")
    assert bad.status_code == 400


def test_an_organizations_country_and_vat_id_are_set_through_the_gateway(scene: Scene) -> None:
    path = f"/v1/organizations/{scene.organization}"
    changed = scene.call("owner", "PUT", path, {"country": "at", "tax_id": "ATU7654321"})
    assert changed.status_code == 200, changed.text
    organization = changed.json()["organization"]
    assert (organization["country"], organization["tax_id"]) == ("AT", "ATU7654321")
    assert scene.call("member", "PUT", path, {"country": "DE"}).status_code == 403
    bad = scene.call("owner", "PUT", path, {"country": "XX"})
    assert bad.status_code == 400 and "ISO 3166-1" in bad.json()["error"]["message"]


def test_the_account_statement_says_where_the_account_stands(scene: Scene) -> None:
    """Alice's invoice was paid in two parts and refunded into a credit (the staff test above):
    her statement lists each document oldest first and says she owes nothing and is in credit.
    Bob's invoice is open: he owes its total, less the credit he was granted."""
    alice = scene.call("alice", "GET", "/v1/billing/statement")
    assert alice.status_code == 200, alice.text
    statement = alice.json()["statement"]
    kinds = [(e["kind"], e["amount"]) for e in statement["entries"]]
    assert kinds[:3] == [("invoice", "6.79"), ("payment", "5.00"), ("payment", "1.79")]
    assert ("refund", "6.79") in kinds and ("credit", "6.79") in kinds
    refund = next(e for e in statement["entries"] if e["kind"] == "refund")
    invoice_number = statement["entries"][0]["document"]
    assert refund["document"].startswith("CN-") and refund["invoice_number"] == invoice_number
    assert (statement["paid"], statement["refunded"], statement["outstanding"]) == ("6.79", "6.79", "0.00")
    assert statement["credits_available"] == "6.79" and statement["balance"] == "-6.79"
    bob = scene.call("bob", "GET", "/v1/billing/statement").json()["statement"]
    invoice = scene.call("bob", "GET", f"/v1/invoices/{scene.invoices['bob']}").json()["invoice"]
    assert bob["outstanding"] == invoice["total"] and bob["currency"] == "EUR"
    assert Decimal(bob["balance"]) == Decimal(invoice["total"]) - Decimal(bob["credits_available"])
    assert scene.call("member", "GET", "/v1/billing/statement").status_code == 404  # a plain member
    payer = scene.call("payer", "GET", "/v1/billing/statement").json()["statement"]
    assert [e["kind"] for e in payer["entries"]] == ["invoice", "cancellation"]  # the org's cancelled invoice
    assert payer["outstanding"] == "0.00" and payer["invoiced"] == "0.00"
