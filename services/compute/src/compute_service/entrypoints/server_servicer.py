"""The ServerService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user reaches its own servers and those of the organization its request names (if it is a
member); admins and services every server; another tenant's server answers NOT_FOUND."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC
from typing import Any

from grpc import aio

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import server_service_pb2 as pb
from cloudplatform.compute.v1 import server_service_pb2_grpc as pb_grpc
from compute_service.adapters import authorization as authz
from compute_service.bootstrap import Compute
from compute_service.domain.server_actions import SnapshotImage
from compute_service.domain.servers import DELETE, POWER_OFF, POWER_ON, REBOOT, RESET, SHUTDOWN, Action, Server
from compute_service.entrypoints.grpc_servicer import MAX_PER_PAGE, decimal_text, sort_order
from compute_service.entrypoints.placement_group_servicer import placement_group_message
from compute_service.service_layer import placement_groups, server_actions, server_settings, servers
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts

Context = aio.ServicerContext[Any, Any]


def server_message(server: Server) -> pb.Server:
    return pb.Server(
        id=server.id,
        user_id=server.user_id,
        organization_id=server.organization_id or 0,
        name=server.name,
        status=server.status,
        server_type_id=server.server_type_id,
        server_type=server.server_type,
        datacenter=server.datacenter,
        image_id=server.image_id or 0,
        image=server.image,
        ipv4_address=server.ipv4_address or "",
        ipv6_address=server.ipv6_address or "",
        ipv6_network=server.ipv6_network or "",
        labels=server.labels,
        locked=server.shown_locked,
        backup_enabled=server.backup_enabled,
        protection_delete=server.protection_delete,
        protection_rebuild=server.protection_rebuild,
        ssh_key_ids=server.ssh_key_ids,
        hetzner_id=server.hetzner_id or 0,
        created_at=_ts(server.created_at),
        updated_at=_ts(server.updated_at),
        version=server.version,
        rescue_enabled=server.rescue_enabled,
        disk_gb=server.disk_gb,
        iso=pb.ServerIso(
            id=int(server.iso.get("id", 0)),
            name=str(server.iso.get("name", "")),
            description=str(server.iso.get("description", "")),
            type=str(server.iso.get("type", "")),
            architecture=str(server.iso.get("architecture", "")),
        )
        if server.iso
        else None,
        dns_ptrs=[pb.DnsPtr(ip=ip, dns_ptr=name) for ip, name in sorted(server.dns_ptrs.items())],
        backup_window=server.backup_window,
        placement_group=placement_group_message(server.placement_group) if server.placement_group else None,
    )


def action_message(action: Action) -> pb.Action:
    return pb.Action(
        id=action.id,
        command=action.command,
        status=action.status,
        progress=action.progress,
        started=_ts(action.started),
        finished=_ts(action.finished),
        error_code=action.error_code,
        error_message=action.error_message,
        resources=[pb.ActionResource(id=int(str(r["id"])), type=str(r["type"])) for r in action.resources],
        server_id=action.server_id or 0,
        image_id=action.image_id or 0,
    )


def snapshot_message(image: SnapshotImage) -> cpb.Image:
    return cpb.Image(
        id=image.id,
        hetzner_id=image.hetzner_id or 0,
        name="",
        description=image.description,
        type=image.type,
        os_flavor=image.os_flavor,
        os_version=image.os_version,
        architecture=image.architecture,
        size_gb=decimal_text(image.size_gb),
        min_disk_size=image.disk_size,
        status=image.status,
        public=False,
        user_id=image.user_id,
        created_at=_ts(image.created_at),
        organization_id=image.organization_id or 0,
        labels=image.labels,
        created_from_server_id=image.server_id or 0,
        created_from_server_name=image.server_name,
        disk_size=image.disk_size,
        protection_delete=image.protection_delete,
    )


def _reach(organization_id: int, what: str) -> servers.Reach:
    def check(user_id: int, owner_organization_id: int | None) -> None:
        authz.ensure_reaches(user_id, owner_organization_id, organization_id, what)

    return check


class ServerServicer(pb_grpc.ServerServiceServicer):
    def __init__(self, compute: Compute) -> None:
        self._compute = compute

    async def CreateServer(self, request: pb.CreateServerRequest, context: Context) -> pb.CreateServerResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the server")
        new = servers.NewServer(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            server_type=request.server_type,
            image=request.image,
            datacenter=request.datacenter,
            ssh_key_ids=list(request.ssh_key_ids),
            user_data=request.user_data,
            labels=dict(request.labels),
            backups=request.backups,
            # Backups from the start cost what billing's backup plan says now.
            backup_price_percent=(
                await asyncio.to_thread(self._compute.backup_pricing.backup_percent) if request.backups else None
            ),
            start_after_create=request.start_after_create if request.HasField("start_after_create") else True,
            placement_group_id=request.placement_group_id,
        )
        quotas = self._compute.quotas
        if new.ssh_key_ids:
            server, action = await asyncio.to_thread(servers.create, new, quotas, self._compute.uow())
            password = ""
        else:  # upstream makes the root password at once: answered this once, only its hash kept
            remaining = context.time_remaining()
            deadline = time.monotonic() + remaining if remaining is not None else None
            server, action, password = await asyncio.to_thread(
                servers.create_with_password, new, quotas, self._compute.uow(), self._compute.upstream(), deadline
            )
        return pb.CreateServerResponse(
            server=server_message(server), action=action_message(action), root_password=password
        )

    async def GetServer(self, request: pb.GetServerRequest, context: Context) -> pb.GetServerResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        server = await asyncio.to_thread(servers.get, request.server_id, reach, self._compute.uow())
        return pb.GetServerResponse(server=server_message(server))

    async def ListServers(self, request: pb.ListServersRequest, context: Context) -> pb.ListServersResponse:  # noqa: N802
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListServers",
        )
        query = servers.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            statuses=list(request.status),
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25,
        )
        found, total = await asyncio.to_thread(servers.search, query, self._compute.uow())
        return pb.ListServersResponse(servers=[server_message(s) for s in found], total_entries=total)

    async def _start(self, server_id: int, organization_id: int, command: str) -> pb.Action:
        reach = _reach(organization_id, f"server {server_id}")
        action = await asyncio.to_thread(servers.start_action, server_id, command, reach, self._compute.uow())
        return action_message(action)

    async def DeleteServer(self, request: pb.DeleteServerRequest, context: Context) -> pb.DeleteServerResponse:  # noqa: N802
        return pb.DeleteServerResponse(action=await self._start(request.server_id, request.organization_id, DELETE))

    async def PowerOnServer(self, request: pb.PowerOnServerRequest, context: Context) -> pb.PowerOnServerResponse:  # noqa: N802
        return pb.PowerOnServerResponse(action=await self._start(request.server_id, request.organization_id, POWER_ON))

    async def PowerOffServer(  # noqa: N802
        self, request: pb.PowerOffServerRequest, context: Context
    ) -> pb.PowerOffServerResponse:
        return pb.PowerOffServerResponse(
            action=await self._start(request.server_id, request.organization_id, POWER_OFF)
        )

    async def RebootServer(self, request: pb.RebootServerRequest, context: Context) -> pb.RebootServerResponse:  # noqa: N802
        return pb.RebootServerResponse(action=await self._start(request.server_id, request.organization_id, REBOOT))

    async def GetAction(self, request: pb.GetActionRequest, context: Context) -> pb.GetActionResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"action {request.action_id}")
        action = await asyncio.to_thread(servers.get_action, request.action_id, reach, self._compute.uow())
        return pb.GetActionResponse(action=action_message(action))

    async def ListActions(self, request: pb.ListActionsRequest, context: Context) -> pb.ListActionsResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        found = await asyncio.to_thread(servers.list_actions, request.server_id, reach, self._compute.uow())
        return pb.ListActionsResponse(actions=[action_message(a) for a in found])

    async def RebuildServer(self, request: pb.RebuildServerRequest, context: Context) -> pb.RebuildServerResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action, password = await asyncio.to_thread(
            server_actions.rebuild_with_password,
            request.server_id,
            request.image,
            reach,
            self._compute.uow(),
            self._compute.upstream(),
        )
        return pb.RebuildServerResponse(action=action_message(action), root_password=password)

    async def ChangeServerType(  # noqa: N802
        self, request: pb.ChangeServerTypeRequest, context: Context
    ) -> pb.ChangeServerTypeResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(
            server_actions.change_type,
            request.server_id,
            request.server_type,
            request.upgrade_disk,
            reach,
            self._compute.uow(),
        )
        return pb.ChangeServerTypeResponse(action=action_message(action))

    async def EnableRescue(self, request: pb.EnableRescueRequest, context: Context) -> pb.EnableRescueResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action, password = await asyncio.to_thread(
            server_actions.enable_rescue,
            request.server_id,
            request.type,
            list(request.ssh_key_ids),
            reach,
            self._compute.uow(),
            self._compute.upstream(),
        )
        return pb.EnableRescueResponse(action=action_message(action), root_password=password)

    async def DisableRescue(self, request: pb.DisableRescueRequest, context: Context) -> pb.DisableRescueResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(server_actions.disable_rescue, request.server_id, reach, self._compute.uow())
        return pb.DisableRescueResponse(action=action_message(action))

    async def CreateImage(self, request: pb.CreateImageRequest, context: Context) -> pb.CreateImageResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        image, action = await asyncio.to_thread(
            server_actions.create_image,
            request.server_id,
            request.type,
            request.description,
            dict(request.labels),
            reach,
            self._compute.uow(),
        )
        return pb.CreateImageResponse(image=snapshot_message(image), action=action_message(action))

    async def ListOwnImages(self, request: pb.ListOwnImagesRequest, context: Context) -> pb.ListOwnImagesResponse:  # noqa: N802
        authz.check_tenant(request.user_id, request.organization_id)
        found = await asyncio.to_thread(
            server_actions.list_own_images, request.user_id, request.organization_id or None, self._compute.uow()
        )
        return pb.ListOwnImagesResponse(images=[snapshot_message(i) for i in found])

    async def UpdateImage(self, request: pb.UpdateImageRequest, context: Context) -> pb.UpdateImageResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"image {request.image_id}")
        image = await asyncio.to_thread(
            server_actions.update_image,
            request.image_id,
            request.description if request.HasField("description") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._compute.uow(),
        )
        return pb.UpdateImageResponse(image=snapshot_message(image))

    async def DeleteImage(self, request: pb.DeleteImageRequest, context: Context) -> pb.DeleteImageResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"image {request.image_id}")
        await asyncio.to_thread(
            server_actions.delete_image, request.image_id, reach, self._compute.uow(), self._compute.upstream()
        )
        return pb.DeleteImageResponse()

    async def UpdateServer(self, request: pb.UpdateServerRequest, context: Context) -> pb.UpdateServerResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        server = await asyncio.to_thread(
            server_actions.update_server,
            request.server_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._compute.uow(),
        )
        found = await asyncio.to_thread(servers.get, server.id, reach, self._compute.uow())
        return pb.UpdateServerResponse(server=server_message(found))

    async def ListTenantActions(  # noqa: N802
        self, request: pb.ListTenantActionsRequest, context: Context
    ) -> pb.ListTenantActionsResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        found, total = await asyncio.to_thread(
            server_actions.tenant_actions,
            request.user_id,
            request.organization_id or None,
            list(request.status),
            [(key.partition(":")[0], key.partition(":")[2] == "desc") for key in request.sort],
            max(request.page, 1),
            min(max(request.per_page, 1), MAX_PER_PAGE) if request.per_page else 25,
            self._compute.uow(),
            resource_type=request.resource_type or "server",
            ids=list(request.ids),
        )
        return pb.ListTenantActionsResponse(actions=[action_message(a) for a in found], total_entries=total)

    async def GetServerMetrics(  # noqa: N802
        self, request: pb.GetServerMetricsRequest, context: Context
    ) -> pb.GetServerMetricsResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        found = await asyncio.to_thread(
            server_actions.metrics,
            request.server_id,
            list(request.types),
            request.start.ToDatetime(tzinfo=UTC),
            request.end.ToDatetime(tzinfo=UTC),
            request.step,
            reach,
            self._compute.uow(),
            self._compute.upstream(),
        )
        return pb.GetServerMetricsResponse(
            start=_ts(found.start),
            end=_ts(found.end),
            step=int(found.step or 0),
            time_series={
                name: pb.MetricsSeries(
                    values=[pb.MetricsPoint(timestamp=float(at), value=str(value)) for at, value in series["values"]]
                )
                for name, series in (found.time_series or {}).items()
            },
        )

    async def ShutdownServer(  # noqa: N802
        self, request: pb.ShutdownServerRequest, context: Context
    ) -> pb.ShutdownServerResponse:
        return pb.ShutdownServerResponse(action=await self._start(request.server_id, request.organization_id, SHUTDOWN))

    async def ResetServer(self, request: pb.ResetServerRequest, context: Context) -> pb.ResetServerResponse:  # noqa: N802
        return pb.ResetServerResponse(action=await self._start(request.server_id, request.organization_id, RESET))

    async def AttachIso(self, request: pb.AttachIsoRequest, context: Context) -> pb.AttachIsoResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(
            server_settings.attach_iso, request.server_id, request.iso, reach, self._compute.uow()
        )
        return pb.AttachIsoResponse(action=action_message(action))

    async def DetachIso(self, request: pb.DetachIsoRequest, context: Context) -> pb.DetachIsoResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(server_settings.detach_iso, request.server_id, reach, self._compute.uow())
        return pb.DetachIsoResponse(action=action_message(action))

    async def ChangeServerProtection(  # noqa: N802
        self, request: pb.ChangeServerProtectionRequest, context: Context
    ) -> pb.ChangeServerProtectionResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(
            server_settings.change_protection,
            request.server_id,
            request.delete if request.HasField("delete") else None,
            request.rebuild if request.HasField("rebuild") else None,
            reach,
            self._compute.uow(),
        )
        return pb.ChangeServerProtectionResponse(action=action_message(action))

    async def ChangeDnsPtr(self, request: pb.ChangeDnsPtrRequest, context: Context) -> pb.ChangeDnsPtrResponse:  # noqa: N802
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(
            server_settings.change_dns_ptr,
            request.server_id,
            request.ip,
            request.dns_ptr if request.HasField("dns_ptr") else None,
            reach,
            self._compute.uow(),
        )
        return pb.ChangeDnsPtrResponse(action=action_message(action))

    async def _backup(self, server_id: int, organization_id: int, enable: bool) -> pb.Action:
        reach = _reach(organization_id, f"server {server_id}")
        action = await asyncio.to_thread(
            server_settings.set_backup, server_id, enable, reach, self._compute.uow(), self._compute.backup_pricing
        )
        return action_message(action)

    async def EnableBackup(self, request: pb.EnableBackupRequest, context: Context) -> pb.EnableBackupResponse:  # noqa: N802
        return pb.EnableBackupResponse(action=await self._backup(request.server_id, request.organization_id, True))

    async def DisableBackup(self, request: pb.DisableBackupRequest, context: Context) -> pb.DisableBackupResponse:  # noqa: N802
        return pb.DisableBackupResponse(action=await self._backup(request.server_id, request.organization_id, False))

    async def RequestConsole(  # noqa: N802
        self, request: pb.RequestConsoleRequest, context: Context
    ) -> pb.RequestConsoleResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action, wss_url, password = await asyncio.to_thread(
            server_settings.request_console, request.server_id, reach, self._compute.uow(), self._compute.upstream()
        )
        return pb.RequestConsoleResponse(action=action_message(action), wss_url=wss_url, password=password)

    async def ResetServerPassword(  # noqa: N802
        self, request: pb.ResetServerPasswordRequest, context: Context
    ) -> pb.ResetServerPasswordResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action, password = await asyncio.to_thread(
            server_settings.reset_password, request.server_id, reach, self._compute.uow(), self._compute.upstream()
        )
        return pb.ResetServerPasswordResponse(action=action_message(action), root_password=password)

    async def AddServerToPlacementGroup(  # noqa: N802
        self, request: pb.AddServerToPlacementGroupRequest, context: Context
    ) -> pb.AddServerToPlacementGroupResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(
            placement_groups.add_server, request.server_id, request.placement_group_id, reach, self._compute.uow()
        )
        return pb.AddServerToPlacementGroupResponse(action=action_message(action))

    async def RemoveServerFromPlacementGroup(  # noqa: N802
        self, request: pb.RemoveServerFromPlacementGroupRequest, context: Context
    ) -> pb.RemoveServerFromPlacementGroupResponse:
        reach = _reach(request.organization_id, f"server {request.server_id}")
        action = await asyncio.to_thread(placement_groups.remove_server, request.server_id, reach, self._compute.uow())
        return pb.RemoveServerFromPlacementGroupResponse(action=action_message(action))

    async def ChangeImageProtection(  # noqa: N802
        self, request: pb.ChangeImageProtectionRequest, context: Context
    ) -> pb.ChangeImageProtectionResponse:
        reach = _reach(request.organization_id, f"image {request.image_id}")
        action = await asyncio.to_thread(
            server_actions.change_image_protection,
            request.image_id,
            request.delete if request.HasField("delete") else None,
            reach,
            self._compute.uow(),
        )
        return pb.ChangeImageProtectionResponse(action=action_message(action))

    async def ListImageActions(  # noqa: N802
        self, request: pb.ListImageActionsRequest, context: Context
    ) -> pb.ListImageActionsResponse:
        reach = _reach(request.organization_id, f"image {request.image_id}")
        found = await asyncio.to_thread(server_actions.image_actions, request.image_id, reach, self._compute.uow())
        return pb.ListImageActionsResponse(actions=[action_message(a) for a in found])


def add_server_servicer(server: aio.Server, compute: Compute) -> list[str]:
    pb_grpc.add_ServerServiceServicer_to_server(ServerServicer(compute), server)
    return [pb.DESCRIPTOR.services_by_name["ServerService"].full_name]
