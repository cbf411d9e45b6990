"""The invoice run through its two doors: BillingService.RunInvoices over real gRPC (admins and
services only) and `cloudctl billing run --period`."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from grpc import aio
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cloudctl.main import app
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from tests.integration.audit.conftest import as_service, as_user
from tests.integration.billing.support import OCTOBER, apply, hours


async def test_run_invoices_is_for_admins_and_issues_once(
    billing_db: tuple[str, Engine], stub: pb_grpc.BillingServiceAsyncStub
) -> None:
    _, engine = billing_db
    apply(engine, hours(1, OCTOBER, 24, user_id=10) + hours(2, OCTOBER, 24, user_id=11))
    with pytest.raises(aio.AioRpcError) as denied:
        await stub.RunInvoices(pb.RunInvoicesRequest(period="2026-10"), metadata=as_user(10))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as invalid:
        await stub.RunInvoices(pb.RunInvoicesRequest(period="last month"), metadata=as_user(1, role="admin"))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    answer = await stub.RunInvoices(pb.RunInvoicesRequest(period="2026-10"), metadata=as_user(1, role="admin"))
    assert [(i.invoice_number, i.account_id, i.total, i.currency) for i in answer.issued] == [
        ("INV-2026-10-0001", 10, "0.14", "EUR"),  # 24 x 0.006 gross = 0.144 -> 0.12 net + 19 % = 0.14
        ("INV-2026-10-0002", 11, "0.14", "EUR"),
    ]
    again = await stub.RunInvoices(pb.RunInvoicesRequest(period="2026-10"), metadata=as_service())
    assert (len(again.issued), again.already_invoiced) == (0, 0)


def test_cloudctl_billing_run_issues_the_periods_invoices(billing_db: tuple[str, Engine]) -> None:
    url, engine = billing_db
    apply(engine, hours(3, OCTOBER + timedelta(days=2), 744, user_id=12))
    cli = CliRunner(env={"COLUMNS": "200"})
    result = cli.invoke(app, ["billing", "run", "--period", "2026-10", "--database-url", url])
    assert result.exit_code == 0, result.output
    # October's 696 hours reach the cap, 3.79 gross: 3.18 net + 0.60 VAT (each rounded to the cent).
    assert "INV-2026-10-0001  user 12" in result.output and "3.78 EUR" in result.output
    assert "1 invoice(s) issued for 2026-10" in result.output
    again = cli.invoke(app, ["billing", "run", "--period", "2026-10", "--database-url", url])
    assert "0 invoice(s) issued for 2026-10" in again.output
    bad = cli.invoke(app, ["billing", "run", "--period", "10/2026", "--database-url", url])
    assert bad.exit_code == 2
