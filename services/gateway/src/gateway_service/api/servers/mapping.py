"""The Hetzner mapping of the servers API: compute's protobuf answers as Hetzner's JSON shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Request

from cloudplatform.compute.v1 import compute_service_pb2 as cpb
from cloudplatform.compute.v1 import server_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2 as npb
from cpshared.errors import DomainError, InvalidInput
from cpshared.logging import get_logger
from gateway_service.api.models.catalog import (
    datacenter_name,
    datacenter_out,
    image_out,
    location_out,
    offered_in,
    server_type_out,
)
from gateway_service.api.models.placement_groups import placement_group_out
from gateway_service.api.servers.models import (
    ActionError,
    ActionOut,
    ActionResourceOut,
    Ipv4Out,
    Ipv6Out,
    IsoOut,
    ProtectionOut,
    PublicNetOut,
    ServerOut,
)
from gateway_service.auth.principal import Principal
from gateway_service.clients.backends import backends
from gateway_service.price_list import PriceList
from gateway_service.server_status import hetzner_status

log = get_logger(__name__)


def as_datetime(stamp: Any) -> datetime:
    result: datetime = stamp.ToDatetime(tzinfo=UTC)
    return result


def action_out(action: pb.Action | npb.Action) -> ActionOut:
    """An action of compute or network (the same fields) in Hetzner's shape."""
    status: Literal["running", "success", "error"] = (
        action.status if action.status in ("running", "success", "error") else "running"  # type: ignore[assignment]
    )
    return ActionOut(
        id=action.id,
        command=action.command,
        status=status,
        progress=action.progress,
        started=as_datetime(action.started),
        finished=as_datetime(action.finished) if action.HasField("finished") else None,
        resources=[ActionResourceOut(id=r.id, type=r.type) for r in action.resources],
        error=ActionError(code=action.error_code, message=action.error_message) if action.status == "error" else None,
    )


class Catalog:
    """The catalog a server's answer embeds, read once per request."""

    def __init__(
        self,
        datacenters: list[cpb.Datacenter],
        server_types: list[cpb.ServerType],
        images: list[cpb.Image],
        prices: PriceList,
    ):
        self.datacenters = datacenters
        self.server_types = server_types
        self.images = images
        self.prices = prices
        self.volumes: Mapping[int, Sequence[int]] = {}
        """The volumes attached to the servers answered (:meth:`read_attachments`), by server id."""
        self.floating_ips: Mapping[int, Sequence[int]] = {}
        """The floating IPs assigned to the servers answered (:meth:`read_attachments`), by server id."""
        self.private_nets: Mapping[int, Sequence[npb.ServerNetwork]] = {}
        """The networks the servers answered are attached to (:meth:`read_attachments`), by server id."""
        self.firewalls: Mapping[int, Sequence[npb.ServerFirewall]] = {}
        """The firewalls applied to the servers answered (:meth:`read_attachments`), by server id."""
        self.primary_ips: Mapping[int, Sequence[npb.PrimaryIp]] = {}
        """The primary IPs assigned to the servers answered (:meth:`read_attachments`), by server id."""
        self.load_balancers: Mapping[int, Sequence[int]] = {}
        """The load balancers targeting the servers answered (:meth:`read_attachments`), by server id."""

    @classmethod
    async def read(cls, request: Request, principal: Principal) -> Catalog:
        """The catalog and the caller's tenant's own images (a server made from a snapshot shows it)."""
        client = backends(request).compute
        own = await backends(request).servers.own_images(principal.user_id, principal.organization_id or 0)
        images = [*await client.images(), *own]
        return cls(
            await client.datacenters(), await client.server_types(), images, await backends(request).prices.get()
        )

    def datacenter(self, code: str) -> cpb.Datacenter:
        for dc in self.datacenters:
            if dc.code == code:
                return dc
        return cpb.Datacenter(code=code, name=code)

    async def read_attachments(self, request: Request, principal: Principal, servers: Sequence[pb.Server]) -> Catalog:
        """Learn what other services attach to ``servers``: storage's volumes, network's floating IPs,
        network attachments, firewalls, primary IPs and load balancers, one call to each for the page, made
        together. A service that does not answer leaves its part empty rather than failing the servers' answer."""
        ids = [server.id for server in servers]

        async def volumes() -> Mapping[int, Sequence[int]]:
            try:
                return await backends(request).storage.server_volumes(ids, principal.organization_id or 0)
            except DomainError as exc:
                log.warning("server_volumes_unavailable", error=str(exc))
                return {}

        (
            self.volumes,
            self.floating_ips,
            self.private_nets,
            self.firewalls,
            self.primary_ips,
            self.load_balancers,
        ) = await asyncio.gather(
            volumes(),
            backends(request).floating_ips.of_servers(ids),
            backends(request).networks.of_servers(ids),
            backends(request).firewalls.of_servers(ids),
            backends(request).primary_ips.of_servers(ids),
            backends(request).load_balancers.of_servers(ids),
        )
        return self

    def _public_ips(self, server: pb.Server) -> tuple[Ipv4Out | None, Ipv6Out | None]:
        """``public_net.ipv4``/``ipv6``: the server's primary IPs as network knows them (their ids,
        addresses and reverse DNS); before network has adopted a new server's own addresses,
        compute's record of them."""
        ptrs = {p.ip: p.dns_ptr for p in server.dns_ptrs}
        pips = {pip.type: pip for pip in self.primary_ips.get(server.id, ())}
        if pips:
            v4, v6 = pips.get("ipv4"), pips.get("ipv6")
            return (
                Ipv4Out(
                    id=v4.id,
                    ip=v4.ip,
                    blocked=v4.blocked,
                    dns_ptr={e.ip: e.dns_ptr for e in v4.dns_ptr}.get(v4.ip) or ptrs.get(v4.ip, ""),
                )
                if v4 is not None
                else None,
                Ipv6Out(
                    id=v6.id,
                    ip=v6.ip,
                    blocked=v6.blocked,
                    dns_ptr=[{"ip": e.ip, "dns_ptr": e.dns_ptr} for e in v6.dns_ptr]
                    or [{"ip": ip, "dns_ptr": name} for ip, name in sorted(ptrs.items()) if ":" in ip],
                )
                if v6 is not None
                else None,
            )
        ipv4 = (
            Ipv4Out(id=server.id, ip=server.ipv4_address, blocked=False, dns_ptr=ptrs.pop(server.ipv4_address, ""))
            if server.ipv4_address
            else None
        )
        ipv6 = (
            Ipv6Out(
                id=server.id,
                ip=server.ipv6_network,
                blocked=False,
                dns_ptr=[{"ip": ip, "dns_ptr": name} for ip, name in sorted(ptrs.items()) if ":" in ip],
            )
            if server.ipv6_network
            else None
        )
        return ipv4, ipv6

    def server_out(self, server: pb.Server) -> ServerOut:
        dc = self.datacenter(server.datacenter)
        st = next(
            (s for s in self.server_types if s.id == server.server_type_id),
            cpb.ServerType(id=server.server_type_id, code=server.server_type),
        )
        image = next((i for i in self.images if i.id == server.image_id), None)
        ipv4, ipv6 = self._public_ips(server)
        return ServerOut(
            id=server.id,
            name=server.name,
            status=hetzner_status(server.status),  # type: ignore[arg-type]  # one of HetznerStatus
            created=as_datetime(server.created_at),
            public_net=PublicNetOut(
                ipv4=ipv4,
                ipv6=ipv6,
                floating_ips=list(self.floating_ips.get(server.id, ())),
                firewalls=[{"id": f.firewall_id, "status": f.status} for f in self.firewalls.get(server.id, ())],
            ),
            private_net=[
                {
                    "network": entry.network_id,
                    "ip": entry.ip,
                    "alias_ips": list(entry.alias_ips),
                    "mac_address": entry.mac_address,
                }
                for entry in self.private_nets.get(server.id, ())
            ],
            server_type=server_type_out(st, self.datacenters, self.prices),
            datacenter=datacenter_out(dc, self.server_types),
            location=location_out(dc),
            image=image_out(image) if image is not None else None,
            iso=_iso_out(server.iso) if server.HasField("iso") else None,
            rescue_enabled=server.rescue_enabled,
            locked=server.locked,
            backup_window=server.backup_window or None,
            outgoing_traffic=None,
            ingoing_traffic=None,
            included_traffic=self.prices.included_traffic,
            protection=ProtectionOut(delete=server.protection_delete, rebuild=server.protection_rebuild),
            labels=dict(server.labels),
            volumes=list(self.volumes.get(server.id, ())),
            load_balancers=list(self.load_balancers.get(server.id, ())),
            primary_disk_size=server.disk_gb or st.disk_gb,
            placement_group=placement_group_out(server.placement_group) if server.HasField("placement_group") else None,
        )

    def datacenter_code(self, location: str | int | None, datacenter: str | int | None, server_type: str) -> str:
        """The platform datacenter a ``location`` or ``datacenter`` (name or ID) names; with
        neither, the first active one offering ``server_type`` (as the datacenters' recommendation)."""
        for value, field in ((datacenter, "datacenter"), (location, "location")):
            if value is None:
                continue
            for dc in self.datacenters:
                if value in (dc.id, str(dc.id), dc.code, datacenter_name(dc)):
                    return dc.code
            raise InvalidInput(f"{field} {value!r} does not exist", details={"fields": [{"name": field}]})
        st = next((s for s in self.server_types if s.code == server_type), None)
        offering = [dc for dc in self.datacenters if dc.status == "active" and st is not None and offered_in(st, dc)]
        return offering[0].code if offering else ""

    def server_type_code(self, value: str | int) -> str:
        for st in self.server_types:
            if value in (st.id, str(st.id)):
                return st.code
        return str(value)

    def image_name(self, value: str | int) -> str:
        """The name of the system image with the ID ``value``; else ``value`` as given: a name, or
        the ID of one of the tenant's snapshots (which have no name), which compute looks up."""
        for image in self.images:
            if image.name and value in (image.id, str(image.id)):
                return image.name
        return str(value)


def _iso_out(iso: pb.ServerIso) -> IsoOut:
    kind = iso.type if iso.type in ("public", "private") else None
    architecture = iso.architecture if iso.architecture in ("x86", "arm") else None
    return IsoOut(
        id=iso.id,
        name=iso.name or None,
        description=iso.description,
        type=kind,  # type: ignore[arg-type]  # checked above
        architecture=architecture,  # type: ignore[arg-type]  # checked above
    )


ACTION_SORT = ("id", "command", "status", "started", "finished")


def action_sort_value(action: ActionOut, field: str) -> Any:
    if field in ("started", "finished"):
        stamp = getattr(action, field)
        return stamp.timestamp() if stamp is not None else float("inf")
    return getattr(action, field)
