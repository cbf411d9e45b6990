"""Compute's follower of identity's, storage's and monitoring's streams: an account's suspension
reaches its servers (a user's own servers with ``user.*``, an organization's with
``organization.suspended`` / ``organization.activated``, whoever asked: staff, or billing's
dunning); the backups storage keeps of servers (``server_backups``: ``backup.created``,
``backup.expired``, ``backup.deleted``), so a server is rebuilt from one of its backups; and a
server's ``metric.summarized`` on monitoring.metrics (monitoring's traffic meter, every few
minutes, not per sample; the samples themselves are ignored) sets its ``bandwidth_used_gb``,
``cpu_usage``, ``memory_usage`` and ``disk_usage`` (``adapters/server_usage.py``).

Run by the generic consumer as the process ``compute-consumer`` (consumer group "compute"):
``python -m cpshared.events.consumer_main compute_service.entrypoints.account_projection:AccountProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered ``user.suspended`` finds its inbox row and suspends nothing twice; the server
events it causes go to compute's outbox in that same transaction.

It acts on servers compute owns, so it declares no tables of its own (``server_backups`` is
kept by it in the same transactions, not rebuilt by a replay: ``cloudctl replay`` has nothing
to do for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.identity.v1 import events_pb2 as identity_pb
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_pb
from cloudplatform.storage.v1 import events_pb2 as storage_pb
from compute_service.adapters.backup_repository import ServerBackupRepository
from compute_service.adapters.server_repository import ActionRepository, ServerRepository
from compute_service.adapters.server_usage import SqlServerUsage
from compute_service.domain.server_usage import ServerUsage
from compute_service.domain.suspension import BANNED, ERASED, SUSPENDED
from compute_service.service_layer import suspension
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import IDENTITY_EVENTS, MONITORING_METRICS, STORAGE_EVENTS, Topic


@contextmanager
def _session(ctx: ApplyContext) -> Iterator[Session]:
    """A session on the projection's transaction (it neither commits nor rolls back: the runner does)."""
    ctx.flush()
    session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
    try:
        yield session
    finally:
        session.close()


class AccountProjection(Projection):
    name = "compute"
    topics: ClassVar[tuple[Topic, ...]] = (IDENTITY_EVENTS, STORAGE_EVENTS, MONITORING_METRICS)
    tables = ()

    @handles("metric.summarized")
    def summarized(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        p = event.payload
        assert isinstance(p, monitoring_pb.MetricsSummarized)
        usage = ServerUsage.of(
            p.server_id,
            p.summarized_at.ToDatetime(),
            p.outgoing_traffic_gb,
            p.cpu_usage,
            p.memory_usage,
            p.disk_usage,
        )
        SqlServerUsage(ctx.conn).record(usage)

    @handles("backup.created")
    def backup_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        """Storage recorded a server's backup: the server can be rebuilt from it (a restore)."""
        payload = event.payload
        assert isinstance(payload, storage_pb.BackupCreated)
        with _session(ctx) as session:
            ServerBackupRepository(session).add(payload.backup_id, payload.server_id, payload.hetzner_id)

    @handles("backup.expired", "backup.deleted")
    def backup_removed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, storage_pb.BackupRemoved)
        with _session(ctx) as session:
            ServerBackupRepository(session).remove(payload.backup_id)

    @handles("user.suspended", "user.banned")
    def suspended(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        reason = BANNED if event.event_type == "user.banned" else SUSPENDED
        with _session(ctx) as session:
            recorded = suspension.suspend_account(
                ServerRepository(session), ActionRepository(session), payload.user_id, reason
            )
            write_events(ctx.conn, recorded)

    @handles("user.erased")
    def erased(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserErased)
        with _session(ctx) as session:
            recorded = suspension.suspend_account(
                ServerRepository(session), ActionRepository(session), payload.user_id, ERASED
            )
            write_events(ctx.conn, recorded)

    @handles("user.activated")
    def activated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        with _session(ctx) as session:
            write_events(ctx.conn, suspension.reactivate_account(ServerRepository(session), payload.user_id))

    @handles("organization.suspended")
    def organization_suspended(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationStatusChanged)
        with _session(ctx) as session:
            recorded = suspension.suspend_organization(
                ServerRepository(session), ActionRepository(session), payload.organization_id
            )
            write_events(ctx.conn, recorded)

    @handles("organization.activated")
    def organization_activated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationStatusChanged)
        with _session(ctx) as session:
            write_events(
                ctx.conn, suspension.reactivate_organization(ServerRepository(session), payload.organization_id)
            )
