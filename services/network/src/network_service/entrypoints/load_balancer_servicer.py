"""The LoadBalancerService and CertificateService gRPC APIs: protobuf in, a use case on a worker
thread, protobuf out. Tenancy as in :mod:`network_service.entrypoints.floating_ip_servicer`."""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.network.v1 import network_service_pb2 as pb
from cloudplatform.network.v1 import network_service_pb2_grpc as pb_grpc
from cpshared.errors import InvalidInput
from cpshared.timestamps import to_timestamp as _ts
from network_service.adapters import authorization as authz
from network_service.bootstrap import Network as Service
from network_service.domain.certificates import Certificate
from network_service.domain.load_balancers import LoadBalancer
from network_service.entrypoints.floating_ip_servicer import (
    ACTION_SORTABLE,
    _per_page,
    _reach,
    action_message,
    sort_order,
)
from network_service.service_layer import certificates, load_balancers

Context = aio.ServicerContext[Any, Any]
Health = dict[tuple[str, int], str]


def _opt(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def service_body(message: pb.LoadBalancerServiceSpec) -> dict[str, Any]:
    """A request's service as the use cases take it (None: not given)."""
    body: dict[str, Any] = {
        name: _opt(message, name) for name in ("protocol", "listen_port", "destination_port", "proxyprotocol")
    }
    if message.HasField("health_check"):
        hc = message.health_check
        check: dict[str, Any] = {
            name: _opt(hc, name) for name in ("protocol", "port", "interval", "timeout", "retries")
        }
        if hc.HasField("http"):
            http = hc.http
            check["http"] = {name: _opt(http, name) for name in ("domain", "path", "response", "tls")}
            check["http"]["status_codes"] = list(http.status_codes) or None
        body["health_check"] = check
    if message.HasField("http"):
        h = message.http
        body["http"] = {
            name: _opt(h, name)
            for name in ("cookie_name", "cookie_lifetime", "redirect_http", "sticky_sessions", "timeout_idle")
        }
        body["http"]["certificates"] = list(h.certificates) or None
    return body


def service_message(service: dict[str, Any]) -> pb.LoadBalancerServiceSpec:
    hc = service["health_check"]
    check = pb.LoadBalancerHealthCheck(
        protocol=hc["protocol"], port=hc["port"], interval=hc["interval"], timeout=hc["timeout"], retries=hc["retries"]
    )
    if hc.get("http"):
        http = hc["http"]
        check.http.CopyFrom(
            pb.LoadBalancerHealthCheckHttp(
                path=http["path"], response=http["response"], status_codes=http["status_codes"], tls=http["tls"]
            )
        )
        if http.get("domain"):
            check.http.domain = http["domain"]
    message = pb.LoadBalancerServiceSpec(
        protocol=service["protocol"],
        listen_port=service["listen_port"],
        destination_port=service["destination_port"],
        proxyprotocol=service["proxyprotocol"],
        health_check=check,
    )
    if service.get("http"):
        h = service["http"]
        message.http.CopyFrom(
            pb.LoadBalancerServiceHttp(
                cookie_name=h["cookie_name"],
                cookie_lifetime=h["cookie_lifetime"],
                certificates=h["certificates"],
                redirect_http=h["redirect_http"],
                sticky_sessions=h["sticky_sessions"],
                timeout_idle=h["timeout_idle"],
            )
        )
    return message


def target_body(message: pb.LoadBalancerTarget) -> dict[str, Any]:
    return {
        "type": message.type,
        "server_id": message.server_id or None,
        "selector": message.label_selector or None,
        "ip": message.ip or None,
        "use_private_ip": message.use_private_ip,
    }


def _health(lb: LoadBalancer, health: Health, key: str) -> list[pb.LoadBalancerHealthStatus]:
    return [
        pb.LoadBalancerHealthStatus(listen_port=s["listen_port"], status=health.get((key, s["listen_port"]), "unknown"))
        for s in lb.spec.services
    ]


def lb_message(lb: LoadBalancer, matched: dict[tuple[int, str], list[int]], health: Health) -> pb.LoadBalancer:
    targets = []
    for target in lb.spec.targets:
        message = pb.LoadBalancerTarget(type=target.type, use_private_ip=target.use_private_ip)
        if target.type == "server":
            message.server_id = int(target.server_id or 0)
            message.health_status.extend(_health(lb, health, f"server:{target.server_id}"))
        elif target.type == "label_selector":
            message.label_selector = target.selector or ""
            for server_id in matched.get((lb.id, target.selector or ""), []):
                message.targets.append(
                    pb.LoadBalancerTarget(
                        type="server",
                        server_id=server_id,
                        use_private_ip=target.use_private_ip,
                        health_status=_health(lb, health, f"server:{server_id}"),
                    )
                )
        else:
            message.ip = target.ip or ""
            message.health_status.extend(_health(lb, health, f"ip:{target.ip}"))
        targets.append(message)
    return pb.LoadBalancer(
        id=lb.id,
        user_id=lb.user_id,
        organization_id=lb.organization_id or 0,
        name=lb.name,
        load_balancer_type=lb.spec.type,
        location=lb.location,
        network_zone=lb.network_zone,
        status=lb.status,
        algorithm=lb.spec.algorithm,
        public_enabled=lb.spec.public_enabled,
        ipv4=lb.ipv4 or "",
        ipv6=lb.ipv6 or "",
        dns_ptrs=[pb.LoadBalancerDnsPtr(ip=ip, dns_ptr=ptr) for ip, ptr in sorted(lb.spec.dns_ptrs.items())],
        services=[service_message(s) for s in lb.spec.services],
        targets=targets,
        networks=[pb.LoadBalancerNetwork(network_id=int(n["network"]), ip=n.get("ip") or "") for n in lb.spec.networks],
        labels=lb.labels,
        protection_delete=lb.protection_delete,
        created_at=_ts(lb.created_at),
        blocked=lb.blocked,
        locked=lb.locked,
    )


class LoadBalancerServicer(pb_grpc.LoadBalancerServiceServicer):
    def __init__(self, service: Service) -> None:
        self._service = service

    def _peers(self, with_quotas: bool = False) -> load_balancers.Peers:
        service = self._service
        return load_balancers.Peers(
            service.compute, service.load_balancer_types, service.load_balancer_quotas if with_quotas else None
        )

    async def _messages(self, found: list[LoadBalancer]) -> list[pb.LoadBalancer]:
        uow = self._service.uow
        matched = await asyncio.to_thread(load_balancers.selector_servers, found, uow())
        health = await asyncio.to_thread(load_balancers.health, found, uow())
        return [lb_message(lb, matched, health.get(lb.id, {})) for lb in found]

    async def CreateLoadBalancer(  # noqa: N802
        self, request: pb.CreateLoadBalancerRequest, context: Context
    ) -> pb.CreateLoadBalancerResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the load balancer")
        cmd = load_balancers.NewLoadBalancer(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            load_balancer_type=request.load_balancer_type,
            location=request.location,
            network_zone=request.network_zone,
            algorithm=request.algorithm or "round_robin",
            services=[service_body(s) for s in request.services],
            targets=[target_body(t) for t in request.targets],
            labels=dict(request.labels),
            public_interface=request.public_interface,
            network=request.network,
        )
        reach = _reach(request.organization_id, "resource")
        peers = self._peers(with_quotas=True)
        lb, action = await asyncio.to_thread(load_balancers.create, cmd, reach, self._service.uow(), peers)
        (message,) = await self._messages([lb])
        return pb.CreateLoadBalancerResponse(load_balancer=message, action=action_message(action))

    async def ListLoadBalancers(  # noqa: N802
        self, request: pb.ListLoadBalancersRequest, context: Context
    ) -> pb.ListLoadBalancersResponse:
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListLoadBalancers",
        )
        query = load_balancers.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(load_balancers.search, query, self._service.uow())
        return pb.ListLoadBalancersResponse(load_balancers=await self._messages(found), total_entries=total)

    async def GetLoadBalancer(  # noqa: N802
        self, request: pb.GetLoadBalancerRequest, context: Context
    ) -> pb.GetLoadBalancerResponse:
        reach = _reach(request.organization_id, f"load balancer {request.load_balancer_id}")
        lb = await asyncio.to_thread(load_balancers.get, request.load_balancer_id, reach, self._service.uow())
        (message,) = await self._messages([lb])
        return pb.GetLoadBalancerResponse(load_balancer=message)

    async def UpdateLoadBalancer(  # noqa: N802
        self, request: pb.UpdateLoadBalancerRequest, context: Context
    ) -> pb.UpdateLoadBalancerResponse:
        reach = _reach(request.organization_id, f"load balancer {request.load_balancer_id}")
        lb = await asyncio.to_thread(
            load_balancers.update,
            request.load_balancer_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._service.uow(),
        )
        (message,) = await self._messages([lb])
        return pb.UpdateLoadBalancerResponse(load_balancer=message)

    async def DeleteLoadBalancer(  # noqa: N802
        self, request: pb.DeleteLoadBalancerRequest, context: Context
    ) -> pb.DeleteLoadBalancerResponse:
        reach = _reach(request.organization_id, f"load balancer {request.load_balancer_id}")
        action = await asyncio.to_thread(load_balancers.delete, request.load_balancer_id, reach, self._service.uow())
        return pb.DeleteLoadBalancerResponse(action=action_message(action))

    async def StartLoadBalancerAction(  # noqa: N802
        self, request: pb.StartLoadBalancerActionRequest, context: Context
    ) -> pb.StartLoadBalancerActionResponse:
        reach = _reach(request.organization_id, f"load balancer {request.load_balancer_id}")
        uow = self._service.uow()
        if request.command == "change_protection":
            action = await asyncio.to_thread(
                load_balancers.change_protection, request.load_balancer_id, request.protection_delete, reach, uow
            )
            return pb.StartLoadBalancerActionResponse(action=action_message(action))
        params: dict[str, Any] = {
            "service": service_body(request.service),
            "listen_port": request.service.listen_port if request.service.HasField("listen_port") else None,
            "target": target_body(request.target),
            "algorithm": request.algorithm,
            "type": request.load_balancer_type,
            "network": request.network,
            "ip": request.ip,
            "dns_ptr": request.dns_ptr if request.HasField("dns_ptr") else None,
        }
        if request.command == "delete_service":
            params["listen_port"] = request.listen_port
        peers = self._peers()
        action = await asyncio.to_thread(
            load_balancers.start, request.load_balancer_id, request.command, params, reach, uow, peers
        )
        return pb.StartLoadBalancerActionResponse(action=action_message(action))

    async def GetLoadBalancerAction(  # noqa: N802
        self, request: pb.GetLoadBalancerActionRequest, context: Context
    ) -> pb.GetLoadBalancerActionResponse:
        reach = _reach(request.organization_id, f"action {request.action_id}")
        action = await asyncio.to_thread(load_balancers.action, request.action_id, reach, self._service.uow())
        return pb.GetLoadBalancerActionResponse(action=action_message(action))

    async def ListLoadBalancerActions(  # noqa: N802
        self, request: pb.ListLoadBalancerActionsRequest, context: Context
    ) -> pb.ListLoadBalancerActionsResponse:
        user_id, organization_id = authz.list_scope(
            False, request.user_id, request.organization_id, (), "ListLoadBalancerActions"
        )
        for status in request.status:
            if status not in ("running", "success", "error"):
                raise InvalidInput(
                    f"status {status!r} is unknown; use running, success or error",
                    details={"fields": [{"name": "status", "messages": ["unknown status"]}]},
                )
        query = load_balancers.ActionSearch(
            user_id=user_id,
            organization_id=organization_id,
            load_balancer_id=request.load_balancer_id,
            ids=list(request.ids),
            statuses=list(request.status),
            order=sort_order(list(request.sort), ACTION_SORTABLE),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        reach = _reach(request.organization_id, f"load balancer {request.load_balancer_id}")
        found, total = await asyncio.to_thread(load_balancers.actions, query, reach, self._service.uow())
        return pb.ListLoadBalancerActionsResponse(actions=[action_message(a) for a in found], total_entries=total)

    async def ServerLoadBalancers(  # noqa: N802
        self, request: pb.ServerLoadBalancersRequest, context: Context
    ) -> pb.ServerLoadBalancersResponse:
        found = await asyncio.to_thread(load_balancers.of_servers, list(request.server_ids), self._service.uow())
        return pb.ServerLoadBalancersResponse(
            load_balancers=[
                pb.ServerLoadBalancer(server_id=server_id, load_balancer_id=lb_id)
                for server_id, ids in sorted(found.items())
                for lb_id in ids
            ]
        )


def certificate_message(certificate: Certificate, used_by: list[int]) -> pb.Certificate:
    return pb.Certificate(
        id=certificate.id,
        user_id=certificate.user_id,
        organization_id=certificate.organization_id or 0,
        name=certificate.name,
        type=certificate.type,
        certificate=certificate.certificate,
        domain_names=certificate.domain_names,
        fingerprint=certificate.fingerprint,
        not_valid_before=_ts(certificate.not_valid_before),
        not_valid_after=_ts(certificate.not_valid_after),
        labels=certificate.labels,
        created_at=_ts(certificate.created_at),
        used_by=used_by,
    )


class CertificateServicer(pb_grpc.CertificateServiceServicer):
    def __init__(self, service: Service) -> None:
        self._service = service

    async def _messages(self, found: list[Certificate]) -> list[pb.Certificate]:
        used = await asyncio.to_thread(certificates.used_by, found, self._service.uow())
        return [certificate_message(c, used.get(c.id, [])) for c in found]

    async def CreateCertificate(  # noqa: N802
        self, request: pb.CreateCertificateRequest, context: Context
    ) -> pb.CreateCertificateResponse:
        authz.check_tenant(request.user_id, request.organization_id)
        if request.user_id <= 0:
            raise InvalidInput("user_id must name the user creating the certificate")
        cmd = certificates.NewCertificate(
            user_id=request.user_id,
            organization_id=request.organization_id or None,
            name=request.name,
            type=request.type or "uploaded",
            certificate=request.certificate,
            private_key=request.private_key,
            labels=dict(request.labels),
        )
        made = await asyncio.to_thread(certificates.create, cmd, self._service.uow())
        (message,) = await self._messages([made])
        return pb.CreateCertificateResponse(certificate=message)

    async def ListCertificates(  # noqa: N802
        self, request: pb.ListCertificatesRequest, context: Context
    ) -> pb.ListCertificatesResponse:
        user_id, organization_id = authz.list_scope(
            request.all_tenants,
            request.user_id,
            request.organization_id,
            (r.operator for r in request.label_selector),
            "ListCertificates",
        )
        query = certificates.Search(
            user_id=user_id,
            organization_id=organization_id,
            name=request.name,
            requirements=list(request.label_selector),
            order=sort_order(list(request.sort)),
            page=max(request.page, 1),
            per_page=_per_page(request.per_page),
        )
        found, total = await asyncio.to_thread(certificates.search, query, self._service.uow())
        return pb.ListCertificatesResponse(certificates=await self._messages(found), total_entries=total)

    async def GetCertificate(  # noqa: N802
        self, request: pb.GetCertificateRequest, context: Context
    ) -> pb.GetCertificateResponse:
        reach = _reach(request.organization_id, f"certificate {request.certificate_id}")
        found = await asyncio.to_thread(certificates.get, request.certificate_id, reach, self._service.uow())
        (message,) = await self._messages([found])
        return pb.GetCertificateResponse(certificate=message)

    async def UpdateCertificate(  # noqa: N802
        self, request: pb.UpdateCertificateRequest, context: Context
    ) -> pb.UpdateCertificateResponse:
        reach = _reach(request.organization_id, f"certificate {request.certificate_id}")
        found = await asyncio.to_thread(
            certificates.update,
            request.certificate_id,
            request.name if request.HasField("name") else None,
            dict(request.labels) if request.set_labels else None,
            reach,
            self._service.uow(),
        )
        (message,) = await self._messages([found])
        return pb.UpdateCertificateResponse(certificate=message)

    async def DeleteCertificate(  # noqa: N802
        self, request: pb.DeleteCertificateRequest, context: Context
    ) -> pb.DeleteCertificateResponse:
        reach = _reach(request.organization_id, f"certificate {request.certificate_id}")
        await asyncio.to_thread(certificates.delete, request.certificate_id, reach, self._service.uow())
        return pb.DeleteCertificateResponse()


def add_load_balancer_servicers(server: aio.Server, service: Service) -> list[str]:
    pb_grpc.add_LoadBalancerServiceServicer_to_server(LoadBalancerServicer(service), server)
    pb_grpc.add_CertificateServiceServicer_to_server(CertificateServicer(service), server)
    return [
        pb.DESCRIPTOR.services_by_name["LoadBalancerService"].full_name,
        pb.DESCRIPTOR.services_by_name["CertificateService"].full_name,
    ]
