"""Fixtures of the billing tests: a scratch billing database and BillingService over real gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from grpc import aio
from sqlalchemy.engine import Engine

from billing_service.bootstrap import Billing
from billing_service.config import BillingRules
from billing_service.entrypoints.grpc_billing import add_billing_servicer
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.auth.principal import TrustedKeys
from cpshared.grpc.server import ServiceIdentity, serve
from tests.integration.audit.conftest import ISSUER_KEY, SERVICE_KEY, _free_port
from tests.integration.billing.support import billing_db

__all__ = ["billing_db", "stub"]


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
            lambda server: add_billing_servicer(server, Billing(engine, BillingRules())),
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
