"""The BillingService gRPC API: the invoice run, for platform admins and services.

Domain errors (InvalidInput, Forbidden) become gRPC statuses in cpshared's interceptor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio
from sqlalchemy.engine import Engine

from billing_service.config import BillingRules
from billing_service.domain.invoice import parse_period
from billing_service.service_layer.invoice_run import run_invoices
from cloudplatform.billing.v1 import billing_service_pb2 as pb
from cloudplatform.billing.v1 import billing_service_pb2_grpc as pb_grpc
from cpshared.context import current_principal
from cpshared.errors import Forbidden, InvalidInput

Context = aio.ServicerContext[Any, Any]


def require_billing_operator() -> None:
    """A service, a platform admin, or nobody at all (a server that checks no principals)."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return
    raise Forbidden("only platform admins run invoices")


class BillingServicer(pb_grpc.BillingServiceServicer):
    def __init__(self, engine: Engine, rules: BillingRules) -> None:
        self._engine = engine
        self._rules = rules

    async def RunInvoices(  # noqa: N802
        self, request: pb.RunInvoicesRequest, context: Context
    ) -> pb.RunInvoicesResponse:
        require_billing_operator()
        try:
            period = parse_period(request.period)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        report = await asyncio.to_thread(run_invoices, self._engine, period, self._rules)
        return pb.RunInvoicesResponse(
            issued=[
                pb.IssuedInvoice(
                    invoice_id=i.invoice_id,
                    invoice_number=i.invoice_number,
                    account_type=i.account.account_type,
                    account_id=i.account.account_id,
                    total=str(i.total),
                    currency=i.currency,
                )
                for i in report.issued
            ],
            already_invoiced=report.already_invoiced,
        )


def add_billing_servicer(server: aio.Server, engine: Engine, rules: BillingRules) -> list[str]:
    pb_grpc.add_BillingServiceServicer_to_server(BillingServicer(engine, rules), server)
    return [pb.DESCRIPTOR.services_by_name["BillingService"].full_name]
