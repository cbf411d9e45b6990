"""The gRPC server bootstrap every service uses.

``serve()`` builds a grpc.aio server with the shared interceptors, health checking (each
registered service reported SERVING), reflection and the ServiceInfo service, binds it,
verifies the principal assertion of every call when given ``trusted`` keys
(cpshared.grpc.interceptors.PrincipalInterceptor; without them it runs unauthenticated),
and stops gracefully on SIGTERM/SIGINT: health turns NOT_SERVING first so load balancers
drain, then in-flight calls get ``grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cloudplatform.ops.v1 import service_info_pb2, service_info_pb2_grpc
from cpshared.auth.principal import TrustedKeys
from cpshared.clock import utcnow
from cpshared.grpc.interceptors import default_interceptors
from cpshared.logging import get_logger

log = get_logger(__name__)

Registrar = Callable[[aio.Server], Sequence[str]]
"""Adds a service's servicers to the server and returns their full service names."""


@dataclass
class ServiceIdentity:
    service: str
    version: str
    schema_revision: Callable[[], str | None] = lambda: None
    schema_head: str | None = None
    started_at: datetime = field(default_factory=utcnow)


class ServiceInfoServicer(service_info_pb2_grpc.ServiceInfoServiceServicer):
    def __init__(self, identity: ServiceIdentity) -> None:
        self._identity = identity

    async def GetServiceInfo(  # noqa: N802 - the name is fixed by the contract
        self,
        request: service_info_pb2.GetServiceInfoRequest,
        context: aio.ServicerContext[service_info_pb2.GetServiceInfoRequest, service_info_pb2.GetServiceInfoResponse],
    ) -> service_info_pb2.GetServiceInfoResponse:
        started = Timestamp()
        started.FromDatetime(self._identity.started_at)
        revision = await asyncio.to_thread(self._identity.schema_revision)
        return service_info_pb2.GetServiceInfoResponse(
            service=self._identity.service,
            version=self._identity.version,
            schema_revision=revision or "",
            schema_head=self._identity.schema_head or "",
            started_at=started,
            pid=os.getpid(),
        )


SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


async def serve(
    identity: ServiceIdentity,
    address: str,
    register: Registrar,
    *,
    grace: float = 5.0,
    on_started: Callable[[], Awaitable[None]] | None = None,
    stop_event: asyncio.Event | None = None,
    trusted: TrustedKeys | None = None,
) -> None:
    """Run a gRPC server on ``address`` until SIGTERM/SIGINT (or ``stop_event``) arrives.

    With ``trusted`` keys every call but health, reflection and ServiceInfo must carry a valid
    principal assertion; without them the server is in unauthenticated mode (logged).
    """
    server = aio.server(interceptors=default_interceptors(trusted), options=SERVER_OPTIONS)
    service_names = list(register(server))

    service_info_pb2_grpc.add_ServiceInfoServiceServicer_to_server(ServiceInfoServicer(identity), server)
    service_names.append(service_info_pb2.DESCRIPTOR.services_by_name["ServiceInfoService"].full_name)

    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind the gRPC server to {address}")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc_server_started", address=address, services=service_names, authenticated=trusted is not None)
    if trusted is None:
        log.warning("grpc_server_unauthenticated", reason="no principal verify key: calls are not authenticated")

    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    if on_started is not None:
        await on_started()

    await stop.wait()
    log.info("grpc_server_stopping", grace_seconds=grace)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace)
    log.info("grpc_server_stopped")
