"""Identity's follower of billing's stream: dunning acted on by the owner of accounts' status.

Run by the generic consumer as the process ``identity-consumer`` (consumer group "identity"):
``python -m cpshared.events.consumer_main identity_service.entrypoints.billing_projection:BillingProjection``.
``billing.suspension_requested`` suspends the user or organization (service_layer/dunning.py,
rules in domain/dunning.py); ``billing.suspension_lifted`` reactivates it when billing's request
is what suspended it. Each event is applied in the transaction of its inbox row
(cpshared.events.projection): a redelivered event finds its inbox row and changes nothing
twice, and the status events it causes go to identity's outbox in that same transaction.

It projects nothing a replay could rebuild (it acts on accounts identity owns), so it declares
no tables of its own: ``cloudctl replay`` has nothing to do for it.
"""

from __future__ import annotations

from typing import ClassVar

from cloudplatform.billing.v1 import events_pb2 as billing_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import BILLING_EVENTS, Topic
from identity_service.adapters.passwords import Argon2PasswordHasher
from identity_service.bootstrap import uow_on
from identity_service.service_layer import dunning


class BillingProjection(Projection):
    name = "identity"
    topics: ClassVar[tuple[Topic, ...]] = (BILLING_EVENTS,)
    tables = ()

    def __init__(self) -> None:
        self.passwords = Argon2PasswordHasher()

    @handles("billing.suspension_requested")
    def suspension_requested(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, billing_pb.SuspensionRequested)
        ctx.flush()
        request = dunning.SuspensionRequest(
            account_type=payload.account_type,
            account_id=payload.account_id,
            invoice_id=payload.invoice.invoice_id,
            invoice_number=payload.invoice.invoice_number,
            due=payload.due_date.ToDatetime().date(),
            grace_days=payload.grace_days,
        )
        dunning.suspend_on_request(request, uow_on(ctx.conn, self.passwords))

    @handles("billing.suspension_lifted")
    def suspension_lifted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, billing_pb.SuspensionLifted)
        ctx.flush()
        lift = dunning.SuspensionLift(
            account_type=payload.account_type,
            account_id=payload.account_id,
            invoice_number=payload.cleared_by.invoice_number,
        )
        dunning.lift_on_request(lift, uow_on(ctx.conn, self.passwords))
