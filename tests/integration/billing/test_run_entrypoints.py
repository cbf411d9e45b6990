"""The invoice run through its two doors: BillingService.RunInvoices over real gRPC (admins and
services only) and `cloudctl billing run --period`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from grpc import aio
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from billing_service.adapters.grpc_billing import add_billing_servicer
from billing_service.config import BillingRules
from cloudctl.main import app
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import TrustedKeys
from cpshared.grpc.server import ServiceIdentity, serve
from tests.integration.audit.conftest import ISSUER_KEY, SERVICE_KEY, _free_port, as_service, as_user
from tests.integration.billing.support import OCTOBER, apply, hours


@pytest.fixture
async def stub(billing_db: tuple[str, Engine]) -> AsyncIterator[pb_grpc.BillingServiceAsyncStub]:
    _, engine = billing_db
    address = f"127.0.0.1:{_free_port()}"
    stop, started = asyncio.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(
        serve(
            ServiceIdentity(service="billing", version="test"),
            address,
            lambda server: add_billing_servicer(server, engine, BillingRules()),
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
            trusted=TrustedKeys(issuer=ISSUER_KEY.public_key(), services={"gateway": SERVICE_KEY.public_key()}),
        )
    )
    await asyncio.wait_for(started.wait(), timeout=10)
    async with aio.insecure_channel(address) as channel:
        yield pb_grpc.BillingServiceStub(channel)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


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
