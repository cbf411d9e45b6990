"""Storage's follower of compute's stream: a deleted server's volumes are detached.

Run by the generic consumer as the process ``storage-consumer`` (consumer group "storage"):
``python -m cpshared.events.consumer_main storage_service.entrypoints.server_projection:ServerProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered ``server.deleted`` finds its inbox row and detaches nothing twice; the volume events
it causes go to storage's outbox in that same transaction. It acts on volumes storage owns and
projects nothing a replay could rebuild, so it declares no tables of its own.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import COMPUTE_EVENTS, Topic
from storage_service.adapters.repository import VolumeRepository
from storage_service.service_layer import reactions


class ServerProjection(Projection):
    name = "storage"
    topics: ClassVar[tuple[Topic, ...]] = (COMPUTE_EVENTS,)
    tables = ()

    @handles("server.deleted")
    def server_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerDeleted)
        ctx.flush()
        session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
        try:
            write_events(ctx.conn, reactions.server_deleted(VolumeRepository(session), payload.server_id))
        finally:
            session.close()
