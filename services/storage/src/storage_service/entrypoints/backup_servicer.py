"""The BackupService gRPC API: a server's backups, listed and deleted; a volume snapshot refused. A user reaches the
backups of its own servers and those of the organization its request names; another tenant's
server (or one storage has not heard of from compute) is NOT_FOUND."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.storage.v1 import backup_service_pb2 as pb
from cloudplatform.storage.v1 import backup_service_pb2_grpc as pb_grpc
from cpshared.timestamps import to_timestamp as _ts
from storage_service.adapters import authorization as authz
from storage_service.bootstrap import Storage
from storage_service.domain.backups import Backup
from storage_service.service_layer import backups, snapshots

Context = aio.ServicerContext[Any, Any]


def backup_message(backup: Backup) -> pb.Backup:
    message = pb.Backup(
        id=backup.id,
        server_id=backup.server_id,
        type=backup.type,
        description=backup.description,
        size_gb="" if backup.size_gb is None else f"{backup.size_gb:.2f}",
        status=backup.status,
        created_at=_ts(backup.created_at),
        hetzner_id=backup.hetzner_id,
    )
    if backup.expires_at is not None:
        message.expires_at.CopyFrom(_ts(backup.expires_at))
    return message


class BackupServicer(pb_grpc.BackupServiceServicer):
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def ListBackups(self, request: pb.ListBackupsRequest, context: Context) -> pb.ListBackupsResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"server {request.server_id}")
        server, found = await asyncio.to_thread(backups.list_backups, request.server_id, reach, self._storage.uow())
        return pb.ListBackupsResponse(
            backups=[backup_message(b) for b in found], backups_enabled=server.backups_enabled
        )

    async def DeleteBackup(self, request: pb.DeleteBackupRequest, context: Context) -> pb.DeleteBackupResponse:  # noqa: N802
        reach = authz.reach(request.organization_id, f"server {request.server_id}")
        backup = await asyncio.to_thread(
            backups.delete_backup, request.server_id, request.backup_id, reach, self._storage.uow()
        )
        return pb.DeleteBackupResponse(backup=backup_message(backup))

    async def CreateVolumeSnapshot(  # noqa: N802
        self, request: pb.CreateVolumeSnapshotRequest, context: Context
    ) -> pb.CreateVolumeSnapshotResponse:
        reach = authz.reach(request.organization_id, f"volume {request.volume_id}")
        await asyncio.to_thread(snapshots.snapshot_volume, request.volume_id, reach, self._storage.uow())
        return pb.CreateVolumeSnapshotResponse()  # pragma: no cover - refused while upstream has none


def add_backup_servicer(server: aio.Server, storage: Storage) -> list[str]:
    pb_grpc.add_BackupServiceServicer_to_server(BackupServicer(storage), server)
    return [pb.DESCRIPTOR.services_by_name["BackupService"].full_name]
