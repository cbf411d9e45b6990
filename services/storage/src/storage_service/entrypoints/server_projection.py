"""Storage's follower of compute's and identity's streams: the servers backups belong to
(``backup_servers``: tenant, upstream id, backup option) from compute's server events; a
deleted server's volumes are detached and its backups expire, a server whose backups were
disabled has its backups expire; a snapshot image compute made is recorded (and billed) as a
snapshot until it is deleted; a suspended or banned account's volumes are blocked (``423 locked`` to every customer
action, never deleted) and unblocked on activation — a user's own volumes on ``user.*``, an
organization's on ``organization.suspended``/``organization.activated``; an erased user's
volumes are detached and deleted (upstream too, through the worker).

Run by the generic consumer as the process ``storage-consumer`` (consumer group "storage"):
``python -m cpshared.events.consumer_main storage_service.entrypoints.server_projection:ServerProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered event finds its inbox row and detaches nothing twice; the volume events
it causes go to storage's outbox in that same transaction. It acts on volumes storage owns and
projects nothing a replay could rebuild, so it declares no tables of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.identity.v1 import events_pb2 as identity_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.timestamps import as_utc
from cpshared.topics import COMPUTE_EVENTS, IDENTITY_EVENTS, Topic
from storage_service.adapters.backup_repository import BackupRepository
from storage_service.adapters.repository import ActionRepository, VolumeRepository
from storage_service.adapters.snapshot_repository import SnapshotRepository
from storage_service.service_layer import backups, reactions, snapshots


@contextmanager
def _session(ctx: ApplyContext) -> Iterator[Session]:
    """A session on the projection's transaction (it neither commits nor rolls back: the runner does)."""
    ctx.flush()
    session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
    try:
        yield session
    finally:
        session.close()


class ServerProjection(Projection):
    name = "storage"
    topics: ClassVar[tuple[Topic, ...]] = (COMPUTE_EVENTS, IDENTITY_EVENTS)
    tables = ()

    @handles("server.created")
    def server_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerCreated)
        with _session(ctx) as session:
            backups.server_created(
                BackupRepository(session),
                payload.server_id,
                payload.user_id,
                payload.organization_id or None,
                payload.backup_enabled,
            )

    @handles("server.status_changed")
    def server_status_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerStatusChanged)
        with _session(ctx) as session:
            repo = BackupRepository(session)
            backups.server_upstream_known(repo, payload.server_id, payload.upstream_id)
            if payload.error_code:  # an action failed: a restore that was running has ended
                backups.restore_ended(repo, payload.server_id)

    @handles("server.restore_started")
    def server_restore_started(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerRestoreStarted)
        with _session(ctx) as session:
            backups.restore_started(BackupRepository(session), payload.server_id, payload.backup_id)

    @handles("server.rebuilt")
    def server_rebuilt(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerRebuilt)
        with _session(ctx) as session:
            backups.restore_ended(BackupRepository(session), payload.server_id)

    @handles("server.backup_changed")
    def server_backup_changed(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerBackupChanged)
        with _session(ctx) as session:
            recorded = backups.backup_option_changed(
                BackupRepository(session),
                payload.server_id,
                payload.user_id,
                payload.organization_id or None,
                payload.backup_enabled,
            )
            write_events(ctx.conn, recorded)

    @handles("image.created")
    def image_created(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ImageCreated)
        with _session(ctx) as session:
            recorded = snapshots.image_created(
                SnapshotRepository(session),
                image_id=payload.image_id,
                image_type=payload.type,
                user_id=payload.user_id,
                organization_id=payload.organization_id or None,
                server_id=payload.server_id,
                status=payload.status,
                size_gb=payload.size_gb,
                at=as_utc(event.envelope.occurred_at.ToDatetime(tzinfo=UTC)),
            )
            write_events(ctx.conn, recorded)

    @handles("image.deleted")
    def image_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ImageDeleted)
        with _session(ctx) as session:
            at = as_utc(event.envelope.occurred_at.ToDatetime(tzinfo=UTC))
            write_events(ctx.conn, snapshots.image_deleted(SnapshotRepository(session), payload.image_id, at))

    @handles("server.deleted")
    def server_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerDeleted)
        with _session(ctx) as session:
            recorded = reactions.server_deleted(VolumeRepository(session), payload.server_id)
            recorded += backups.server_deleted(BackupRepository(session), payload.server_id)
            write_events(ctx.conn, recorded)

    @handles("user.suspended", "user.banned")
    def user_suspended(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        with _session(ctx) as session:
            reactions.account_suspended(VolumeRepository(session), user_id=payload.user_id)

    @handles("user.activated")
    def user_activated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        with _session(ctx) as session:
            reactions.account_activated(VolumeRepository(session), user_id=payload.user_id)

    @handles("user.erased")
    def user_erased(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserErased)
        with _session(ctx) as session:
            recorded = reactions.account_erased(VolumeRepository(session), ActionRepository(session), payload.user_id)
            backups.account_erased(BackupRepository(session), payload.user_id)
            write_events(ctx.conn, recorded)

    @handles("organization.suspended")
    def organization_suspended(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationStatusChanged)
        with _session(ctx) as session:
            reactions.account_suspended(VolumeRepository(session), organization_id=payload.organization_id)

    @handles("organization.activated")
    def organization_activated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.OrganizationStatusChanged)
        with _session(ctx) as session:
            reactions.account_activated(VolumeRepository(session), organization_id=payload.organization_id)
