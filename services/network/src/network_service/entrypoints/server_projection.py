"""Network's follower of compute's stream: what a deleted server leaves behind in network.

Run by the generic consumer as the process ``network-consumer`` (consumer group "network"):
``python -m cpshared.events.consumer_main network_service.entrypoints.server_projection:ServerProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered ``server.deleted`` finds its inbox row and changes nothing twice; the
``floating_ip.unassigned`` events it causes go to network's outbox in that same transaction.
(Upstream, deleting the server unassigned its floating IPs already.)

It projects nothing a replay could rebuild (it acts on floating IPs network owns), so it
declares no tables of its own.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import COMPUTE_EVENTS, Topic
from network_service.adapters.repository import FloatingIpRepository
from network_service.service_layer import floating_ips


class ServerProjection(Projection):
    name = "network"
    topics: ClassVar[tuple[Topic, ...]] = (COMPUTE_EVENTS,)
    tables = ()

    @handles("server.deleted")
    def server_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerDeleted)
        ctx.flush()
        session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
        try:
            write_events(ctx.conn, floating_ips.server_deleted(FloatingIpRepository(session), payload.server_id))
        finally:
            session.close()
