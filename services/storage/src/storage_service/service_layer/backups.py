"""Servers' backups: what storage learns of servers from compute's events, the worker's mirror
of upstream's backup images, and the customer's list and delete.

Compute owns the server, its backup option and window (it enables and disables them upstream)
and meters the backups (20 % of the server's price, billing's ``backup`` plan). Storage owns the
``backups`` rows: its worker lists upstream's backup images (one call a pass) and, per server
whose backups are enabled, records each new one (``backup.created``), refreshes one upstream
finished, and removes the rows whose image upstream no longer has (``backup.expired``: the
eighth daily backup replaced the oldest). A deleted server's backups, and a server's whose
backups were disabled, expire at once (upstream removes them with the server, or on disable).
A customer's delete marks the backup ``deleting``; the worker deletes the image upstream and
then the row (``backup.deleted``)."""

from __future__ import annotations

from dataclasses import dataclass

from cpshared.clock import utcnow
from cpshared.errors import NotFound
from cpshared.events.envelope import PendingEvent
from cpshared.logging import get_logger
from storage_service.domain import backups as b
from storage_service.domain.backups import Backup, BackupServer, UpstreamBackup
from storage_service.service_layer.ports import BackupRepository, UpstreamBackups
from storage_service.service_layer.unit_of_work import StorageUnitOfWork, UnitOfWorkFactory, aggregate_events
from storage_service.service_layer.volumes import Reach

log = get_logger(__name__)
DELETE_BATCH = 50


# -- what compute's events say (the consumer's transaction) ------------------------------------
def server_created(
    repo: BackupRepository, server_id: int, user_id: int, organization_id: int | None, enabled: bool
) -> None:
    repo.server_created(server_id, user_id, organization_id, enabled)


def server_upstream_known(repo: BackupRepository, server_id: int, upstream_id: int) -> None:
    if upstream_id:
        repo.set_upstream_id(server_id, upstream_id)


def _expire_all(repo: BackupRepository, server_id: int, reason: str) -> list[PendingEvent]:
    now = utcnow()
    events: list[PendingEvent] = []
    for backup in repo.of_server(server_id, for_update=True):
        backup.expired(reason, now)
        repo.remove(backup)
        events.extend(aggregate_events(backup))
    if events:
        log.info("backups_expired", server_id=server_id, reason=reason, count=len(events))
    return events


def backup_option_changed(
    repo: BackupRepository, server_id: int, user_id: int, organization_id: int | None, enabled: bool
) -> list[PendingEvent]:
    """Enabled or disabled; disabling removed every backup upstream, so they expire here too. A
    server storage has not heard of (made before storage followed servers) is recorded now."""
    repo.server_created(server_id, user_id, organization_id, enabled)
    if repo.server(server_id, for_update=True) is None:
        return []
    repo.set_enabled(server_id, enabled)
    return [] if enabled else _expire_all(repo, server_id, b.BACKUPS_DISABLED)


def server_deleted(repo: BackupRepository, server_id: int) -> list[PendingEvent]:
    """A deleted server's backups went with it upstream: they expire."""
    if repo.server(server_id, for_update=True) is None:
        return []
    repo.set_deleted(server_id)
    return _expire_all(repo, server_id, b.SERVER_DELETED)


def restore_started(repo: BackupRepository, server_id: int, backup_id: int) -> None:
    """Compute began rebuilding the server from the backup: ``restoring`` until it ends."""
    backup = repo.get(backup_id, for_update=True)
    if backup is not None and backup.server_id == server_id and backup.restore_started():
        repo.save(backup)
        log.info("backup_restoring", server_id=server_id, backup_id=backup_id)


def restore_ended(repo: BackupRepository, server_id: int) -> None:
    """The server's rebuild finished (or its action failed): its restoring backups are available."""
    for backup in repo.of_server(server_id, for_update=True):
        if backup.restore_ended():
            repo.save(backup)


def account_erased(repo: BackupRepository, user_id: int) -> int:
    """An erased user's backups (of the servers it owns itself) are deleted: ``deleting`` now,
    upstream's images deleted by the worker's next pass (``backup.deleted``). How many."""
    count = 0
    for server in repo.servers_of_user(user_id):
        for backup in repo.of_server(server.server_id, for_update=True):
            if backup.status not in (b.DELETING, b.RESTORING):
                backup.begin_delete()
                repo.save(backup)
                count += 1
    if count:
        log.info("backups_of_erased_account_deleted", user_id=user_id, count=count)
    return count


# -- the worker's mirror ---------------------------------------------------------------------
@dataclass(frozen=True)
class Mirrored:
    created: int = 0
    expired: int = 0
    deleted: int = 0


def _mirror_server(
    uow: StorageUnitOfWork, server_id: int, images: dict[int, list[UpstreamBackup]], now_upstream: set[int]
) -> tuple[int, int]:
    server = uow.backups.server(server_id, for_update=True)  # one worker per server at a time
    if server is None:
        return 0, 0
    known = {backup.hetzner_id: backup for backup in uow.backups.of_server(server_id, for_update=True)}
    created = expired = 0
    upstream = images.get(server.upstream_id, []) if server.upstream_id else []
    if server.backups_enabled and not server.deleted:
        for image in sorted(upstream, key=lambda i: (i.created, i.hetzner_id)):
            backup = known.get(image.hetzner_id)
            if backup is None:
                added = uow.backups.add(Backup.mirrored(server, image))
                added.recorded()
                created += 1
            elif backup.refreshed(image):
                uow.backups.save(backup)
    now = utcnow()
    for hetzner_id, backup in known.items():
        if hetzner_id not in now_upstream and backup.status != b.DELETING:
            backup.expired(b.ROTATED, now)
            uow.backups.remove(backup)
            expired += 1
    return created, expired


def mirror(uow_factory: UnitOfWorkFactory, upstream: UpstreamBackups) -> Mirrored:
    """One pass: every backup image upstream recorded, every one gone expired, every deleted one
    deleted upstream. Each server in a transaction of its own."""
    with uow_factory() as uow:
        servers: list[BackupServer] = uow.backups.servers_with_backups()
        for server in servers:
            if server.backups_enabled and not server.upstream_id:  # its status events not seen (yet)
                upstream_id = upstream.upstream_server_id(server.server_id)
                if upstream_id:
                    uow.backups.set_upstream_id(server.server_id, upstream_id)
        uow.commit()
    if not servers:
        return Mirrored(deleted=_delete_pending(uow_factory, upstream))
    found = upstream.backups()
    by_server: dict[int, list[UpstreamBackup]] = {}
    for image in found:
        by_server.setdefault(image.upstream_server_id, []).append(image)
    everywhere = {image.hetzner_id for image in found}
    created = expired = 0
    for server in servers:
        with uow_factory() as uow:
            made, gone = _mirror_server(uow, server.server_id, by_server, everywhere)
            uow.commit()
        created, expired = created + made, expired + gone
    return Mirrored(created, expired, _delete_pending(uow_factory, upstream))


def _delete_pending(uow_factory: UnitOfWorkFactory, upstream: UpstreamBackups) -> int:
    done = 0
    with uow_factory() as uow:
        pending = [backup.id for backup in uow.backups.deleting(DELETE_BATCH)]
    for backup_id in pending:
        with uow_factory() as uow:
            backup = uow.backups.get(backup_id, for_update=True)
            if backup is None or backup.status != b.DELETING:
                continue
            upstream.delete_image(backup.hetzner_id)
            backup.deleted()
            uow.backups.remove(backup)
            uow.commit()
            done += 1
    return done


# -- the customer's ----------------------------------------------------------------------------
def _reached_server(server_id: int, reach: Reach, uow: StorageUnitOfWork, *, for_update: bool = False) -> BackupServer:
    server = uow.backups.server(server_id, for_update=for_update)
    if server is None or server.deleted:
        raise NotFound(f"server {server_id} does not exist")
    reach(server.user_id, server.organization_id)
    return server


def list_backups(server_id: int, reach: Reach, uow: StorageUnitOfWork) -> tuple[BackupServer, list[Backup]]:
    """The server's backups, newest first (one a customer deleted is gone already)."""
    with uow:
        server = _reached_server(server_id, reach, uow)
        return server, [backup for backup in uow.backups.of_server(server_id) if backup.status != b.DELETING]


def delete_backup(server_id: int, backup_id: int, reach: Reach, uow: StorageUnitOfWork) -> Backup:
    """Mark it ``deleting``: the worker deletes upstream's image, then the row."""
    with uow:
        _reached_server(server_id, reach, uow, for_update=True)
        backup = uow.backups.get(backup_id, for_update=True)
        if backup is None or backup.server_id != server_id or backup.status == b.DELETING:
            raise NotFound(f"backup {backup_id} of server {server_id} does not exist")
        backup.begin_delete()
        uow.backups.save(backup)
        uow.commit()
        return backup
