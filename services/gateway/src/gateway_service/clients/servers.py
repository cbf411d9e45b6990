"""The gateway's calls to the compute service's ServerService: servers and their actions. Each
call carries the request's principal (the channel sends it on); compute checks the tenant again
from it, and a refusal raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import server_service_pb2 as pb
from cloudplatform.compute.v1 import server_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "compute"

CREATE_DEADLINE_SECONDS = 30.0


class ServerClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _servers(self) -> pb_grpc.ServerServiceAsyncStub:
        return pb_grpc.ServerServiceStub(self._channel())

    async def create(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        server_type: str,
        image: str,
        datacenter: str,
        ssh_key_ids: Sequence[int],
        user_data: str,
        labels: Mapping[str, str],
        start_after_create: bool = True,
        placement_group_id: int = 0,
    ) -> pb.CreateServerResponse:
        request = pb.CreateServerRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            server_type=server_type,
            image=image,
            datacenter=datacenter,
            ssh_key_ids=ssh_key_ids,
            user_data=user_data,
            labels=labels,
            start_after_create=start_after_create,
            placement_group_id=placement_group_id,
        )
        # Without SSH keys compute asks upstream at once for the root password: more than the
        # default deadline allows. Compute rolls back what it could not answer within this.
        return await backend_call(BACKEND, self._servers().CreateServer(request, timeout=CREATE_DEADLINE_SECONDS))

    async def add_to_placement_group(self, server_id: int, organization_id: int, placement_group_id: int) -> pb.Action:
        request = pb.AddServerToPlacementGroupRequest(
            server_id=server_id, organization_id=organization_id, placement_group_id=placement_group_id
        )
        return (await backend_call(BACKEND, self._servers().AddServerToPlacementGroup(request))).action

    async def remove_from_placement_group(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.RemoveServerFromPlacementGroupRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().RemoveServerFromPlacementGroup(request))).action

    async def get(self, server_id: int, organization_id: int) -> pb.Server:
        request = pb.GetServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().GetServer(request))).server

    async def list_servers(
        self,
        user_id: int,
        organization_id: int,
        *,
        name: str,
        status: Sequence[str],
        label_selector: Sequence[cpb.LabelRequirement],
        sort: Sequence[str],
        page: int,
        per_page: int,
    ) -> pb.ListServersResponse:
        request = pb.ListServersRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=name,
            status=status,
            label_selector=label_selector,
            sort=sort,
            page=page,
            per_page=per_page,
        )
        return await backend_call(BACKEND, self._servers().ListServers(request))

    async def delete(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.DeleteServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().DeleteServer(request))).action

    async def power_on(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.PowerOnServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().PowerOnServer(request))).action

    async def power_off(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.PowerOffServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().PowerOffServer(request))).action

    async def reboot(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.RebootServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().RebootServer(request))).action

    async def action(self, action_id: int, organization_id: int) -> pb.Action:
        request = pb.GetActionRequest(action_id=action_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().GetAction(request))).action

    async def list_actions(self, server_id: int, organization_id: int) -> list[pb.Action]:
        request = pb.ListActionsRequest(server_id=server_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._servers().ListActions(request))).actions)

    async def rebuild(self, server_id: int, organization_id: int, image: str) -> pb.RebuildServerResponse:
        request = pb.RebuildServerRequest(server_id=server_id, organization_id=organization_id, image=image)
        return await backend_call(BACKEND, self._servers().RebuildServer(request))

    async def change_type(
        self, server_id: int, organization_id: int, server_type: str, upgrade_disk: bool
    ) -> pb.Action:
        request = pb.ChangeServerTypeRequest(
            server_id=server_id, organization_id=organization_id, server_type=server_type, upgrade_disk=upgrade_disk
        )
        return (await backend_call(BACKEND, self._servers().ChangeServerType(request))).action

    async def enable_rescue(
        self, server_id: int, organization_id: int, rescue_type: str, ssh_key_ids: Sequence[int]
    ) -> pb.EnableRescueResponse:
        request = pb.EnableRescueRequest(
            server_id=server_id, organization_id=organization_id, type=rescue_type, ssh_key_ids=ssh_key_ids
        )
        return await backend_call(BACKEND, self._servers().EnableRescue(request))

    async def disable_rescue(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.DisableRescueRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().DisableRescue(request))).action

    async def create_image(
        self, server_id: int, organization_id: int, *, image_type: str, description: str, labels: Mapping[str, str]
    ) -> pb.CreateImageResponse:
        request = pb.CreateImageRequest(
            server_id=server_id,
            organization_id=organization_id,
            type=image_type,
            description=description,
            labels=labels,
        )
        return await backend_call(BACKEND, self._servers().CreateImage(request))

    async def own_images(self, user_id: int, organization_id: int) -> list[cpb.Image]:
        request = pb.ListOwnImagesRequest(user_id=user_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._servers().ListOwnImages(request))).images)

    async def update_image(
        self, image_id: int, organization_id: int, *, description: str | None, labels: Mapping[str, str] | None
    ) -> cpb.Image:
        request = pb.UpdateImageRequest(
            image_id=image_id,
            organization_id=organization_id,
            description=description,
            set_labels=labels is not None,
            labels=labels or {},
        )
        return (await backend_call(BACKEND, self._servers().UpdateImage(request))).image

    async def delete_image(self, image_id: int, organization_id: int) -> None:
        request = pb.DeleteImageRequest(image_id=image_id, organization_id=organization_id)
        await backend_call(BACKEND, self._servers().DeleteImage(request))

    async def update(
        self, server_id: int, organization_id: int, *, name: str | None, labels: Mapping[str, str] | None
    ) -> pb.Server:
        request = pb.UpdateServerRequest(
            server_id=server_id,
            organization_id=organization_id,
            name=name,
            set_labels=labels is not None,
            labels=labels or {},
        )
        return (await backend_call(BACKEND, self._servers().UpdateServer(request))).server

    async def tenant_actions(
        self,
        user_id: int,
        organization_id: int,
        *,
        status: Sequence[str],
        sort: Sequence[str],
        page: int,
        per_page: int,
        resource_type: str = "server",
        ids: Sequence[int] = (),
    ) -> pb.ListTenantActionsResponse:
        request = pb.ListTenantActionsRequest(
            user_id=user_id,
            organization_id=organization_id,
            status=status,
            sort=sort,
            page=page,
            per_page=per_page,
            resource_type=resource_type,
            ids=ids,
        )
        return await backend_call(BACKEND, self._servers().ListTenantActions(request))

    async def change_image_protection(self, image_id: int, organization_id: int, *, delete: bool | None) -> pb.Action:
        request = pb.ChangeImageProtectionRequest(image_id=image_id, organization_id=organization_id, delete=delete)
        return (await backend_call(BACKEND, self._servers().ChangeImageProtection(request))).action

    async def image_actions(self, image_id: int, organization_id: int) -> list[pb.Action]:
        request = pb.ListImageActionsRequest(image_id=image_id, organization_id=organization_id)
        return list((await backend_call(BACKEND, self._servers().ListImageActions(request))).actions)

    async def metrics(
        self, server_id: int, organization_id: int, *, types: Sequence[str], start: datetime, end: datetime, step: int
    ) -> pb.GetServerMetricsResponse:
        request = pb.GetServerMetricsRequest(
            server_id=server_id, organization_id=organization_id, types=types, step=step
        )
        request.start.FromDatetime(start)
        request.end.FromDatetime(end)
        return await backend_call(BACKEND, self._servers().GetServerMetrics(request))

    async def shutdown(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.ShutdownServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().ShutdownServer(request))).action

    async def reset(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.ResetServerRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().ResetServer(request))).action

    async def attach_iso(self, server_id: int, organization_id: int, iso: str) -> pb.Action:
        request = pb.AttachIsoRequest(server_id=server_id, organization_id=organization_id, iso=iso)
        return (await backend_call(BACKEND, self._servers().AttachIso(request))).action

    async def detach_iso(self, server_id: int, organization_id: int) -> pb.Action:
        request = pb.DetachIsoRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().DetachIso(request))).action

    async def change_protection(
        self, server_id: int, organization_id: int, *, delete: bool | None, rebuild: bool | None
    ) -> pb.Action:
        request = pb.ChangeServerProtectionRequest(
            server_id=server_id, organization_id=organization_id, delete=delete, rebuild=rebuild
        )
        return (await backend_call(BACKEND, self._servers().ChangeServerProtection(request))).action

    async def change_dns_ptr(self, server_id: int, organization_id: int, ip: str, dns_ptr: str | None) -> pb.Action:
        request = pb.ChangeDnsPtrRequest(server_id=server_id, organization_id=organization_id, ip=ip, dns_ptr=dns_ptr)
        return (await backend_call(BACKEND, self._servers().ChangeDnsPtr(request))).action

    async def set_backup(self, server_id: int, organization_id: int, enable: bool) -> pb.Action:
        if enable:
            on = pb.EnableBackupRequest(server_id=server_id, organization_id=organization_id)
            return (await backend_call(BACKEND, self._servers().EnableBackup(on))).action
        off = pb.DisableBackupRequest(server_id=server_id, organization_id=organization_id)
        return (await backend_call(BACKEND, self._servers().DisableBackup(off))).action

    async def request_console(self, server_id: int, organization_id: int) -> pb.RequestConsoleResponse:
        request = pb.RequestConsoleRequest(server_id=server_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._servers().RequestConsole(request))

    async def reset_password(self, server_id: int, organization_id: int) -> pb.ResetServerPasswordResponse:
        request = pb.ResetServerPasswordRequest(server_id=server_id, organization_id=organization_id)
        return await backend_call(BACKEND, self._servers().ResetServerPassword(request))
