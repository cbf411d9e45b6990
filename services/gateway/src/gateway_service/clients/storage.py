"""The gateway's calls to the storage service's VolumeService and BackupService. Each call carries the request's
principal (the channel sends it on); storage checks the tenant again from it, and a refusal
raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from grpc import aio

from cloudplatform.storage.v1 import backup_service_pb2 as bpb
from cloudplatform.storage.v1 import backup_service_pb2_grpc as bpb_grpc
from cloudplatform.storage.v1 import volume_service_pb2 as pb
from cloudplatform.storage.v1 import volume_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "storage"


class StorageClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _volumes(self) -> pb_grpc.VolumeServiceAsyncStub:
        return pb_grpc.VolumeServiceStub(self._channel())

    def _backups(self) -> bpb_grpc.BackupServiceAsyncStub:
        return bpb_grpc.BackupServiceStub(self._channel())

    async def server_backups(self, server_id: int, organization_id: int) -> bpb.ListBackupsResponse:
        request = bpb.ListBackupsRequest(server_id=server_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._backups().ListBackups(request))

    async def snapshot_volume(self, volume_id: int, organization_id: int) -> bpb.CreateVolumeSnapshotResponse:
        request = bpb.CreateVolumeSnapshotRequest(volume_id=volume_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._backups().CreateVolumeSnapshot(request))

    async def delete_backup(self, server_id: int, backup_id: int, organization_id: int) -> bpb.DeleteBackupResponse:
        request = bpb.DeleteBackupRequest(server_id=server_id, backup_id=backup_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._backups().DeleteBackup(request))

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        size_gb: int,
        location: str,
        server_id: int,
        automount: bool,
        format: str,
        labels: Mapping[str, str],
    ) -> pb.CreateVolumeResponse:
        request = pb.CreateVolumeRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            size_gb=size_gb,
            location=location,
            server_id=server_id,
            automount=automount,
            format=format,
            labels=labels,
        )
        return await backend_call(BACKEND, self._volumes().CreateVolume(request))

    async def list(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        statuses: Sequence[str],
        label_selector: Sequence[pb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListVolumesResponse:
        request = pb.ListVolumesRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            statuses=statuses,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._volumes().ListVolumes(request))

    async def get(self, volume_id: int, organization_id: int) -> pb.Volume:
        request = pb.GetVolumeRequest(volume_id=volume_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._volumes().GetVolume(request))).volume

    async def update(
        self, volume_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.Volume:
        request = pb.UpdateVolumeRequest(
            volume_id=volume_id, organization_id=organization_id, set_labels=labels is not None, labels=labels or {}
        )
        if name is not None:
            request.name = name
        return (await backend_call(BACKEND, self._volumes().UpdateVolume(request))).volume

    async def delete(self, volume_id: int, organization_id: int) -> pb.VolumeAction:
        request = pb.DeleteVolumeRequest(volume_id=volume_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._volumes().DeleteVolume(request))).action

    async def attach(self, volume_id: int, organization_id: int, server_id: int, automount: bool) -> pb.VolumeAction:
        request = pb.AttachVolumeRequest(
            volume_id=volume_id, organization_id=organization_id, server_id=server_id, automount=automount
        )
        return (await backend_call(BACKEND, self._volumes().AttachVolume(request))).action

    async def detach(self, volume_id: int, organization_id: int) -> pb.VolumeAction:
        request = pb.DetachVolumeRequest(volume_id=volume_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._volumes().DetachVolume(request))).action

    async def resize(self, volume_id: int, organization_id: int, size_gb: int) -> pb.VolumeAction:
        request = pb.ResizeVolumeRequest(volume_id=volume_id, organization_id=organization_id, size_gb=size_gb)
        return (await backend_call(BACKEND, self._volumes().ResizeVolume(request))).action

    async def change_protection(self, volume_id: int, organization_id: int, delete: bool | None) -> pb.VolumeAction:
        request = pb.ChangeVolumeProtectionRequest(volume_id=volume_id, organization_id=organization_id)
        if delete is not None:
            request.delete = delete
        return (await backend_call(BACKEND, self._volumes().ChangeVolumeProtection(request))).action

    async def action(self, action_id: int, organization_id: int, volume_id: int = 0) -> pb.VolumeAction:
        request = pb.GetVolumeActionRequest(action_id=action_id, organization_id=organization_id, volume_id=volume_id)
        return (await backend_call(BACKEND, self._volumes().GetVolumeAction(request))).action

    async def actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        volume_id: int,
        ids: Sequence[int],
        statuses: Sequence[str],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListVolumeActionsResponse:
        request = pb.ListVolumeActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            volume_id=volume_id,
            ids=ids,
            statuses=statuses,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._volumes().ListVolumeActions(request))

    async def server_volumes(self, server_ids: Sequence[int], organization_id: int) -> dict[int, Sequence[int]]:
        """The ids of the volumes attached to each server named (the caller's)."""
        if not server_ids:
            return {}
        request = pb.ServerVolumesRequest(server_ids=server_ids, organization_id=organization_id)
        answer = await backend_call(BACKEND, self._volumes().ServerVolumes(request))
        return {entry.server_id: list(entry.volume_ids) for entry in answer.servers}
