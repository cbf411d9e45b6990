"""The gateway's HTTP application."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter, Histogram
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cpshared.auth.principal import load_private_key
from cpshared.clock import Clock
from cpshared.context import correlation_id_var, new_correlation_id
from cpshared.grpc.client import make_channel
from gateway_service import SERVICE_NAME, __version__
from gateway_service.api import (
    actions,
    admin,
    admin_tickets,
    alert_rules,
    alerts,
    api_keys,
    audit_logs,
    auth,
    backups,
    billing,
    catalog,
    certificates,
    firewalls,
    floating_ips,
    images,
    invoices,
    load_balancer_types,
    load_balancers,
    maintenance_windows,
    me,
    networks,
    notifications,
    organizations,
    placement_groups,
    primary_ips,
    quotas,
    ssh_keys,
    tickets,
    two_factor,
    uptime_monitors,
    volumes,
)
from gateway_service.api.common import typed_paging
from gateway_service.api.servers import routes as servers
from gateway_service.auth.authentication import Authenticator, PrincipalCache
from gateway_service.auth.gate import Gate
from gateway_service.auth.invalidation import InvalidationListener
from gateway_service.auth.maintenance import SETTING as MAINTENANCE_SETTING
from gateway_service.auth.maintenance import MaintenanceSwitch
from gateway_service.clients.backends import BACKENDS_STATE, Backends
from gateway_service.config import Settings
from gateway_service.console import relay as console_relay
from gateway_service.console.tickets import ConsoleTickets
from gateway_service.http_hygiene import HttpHygieneMiddleware
from gateway_service.idempotency.middleware import IdempotencyMiddleware
from gateway_service.idempotency.store import IdempotencyStore
from gateway_service.rate_limit.credentials import THROTTLE_STATE, CredentialThrottle
from gateway_service.rate_limit.middleware import RateLimitHeadersMiddleware
from gateway_service.rate_limit.store import RateLimitStore
from gateway_service.request_log import RequestLogMiddleware, RequestLogWriter
from hetzner_conventions.error_handlers import COMMON_ERROR_ANSWERS, install_error_handlers

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,36}")  # audit_logs.request_id is VARCHAR(36)
# The public API's routers; the request log names each request by the template of its route in them.
ROUTERS = (
    api_keys.router,
    auth.router,
    me.router,
    organizations.router,
    admin.router,
    quotas.router,
    two_factor.router,
    audit_logs.router,
    images.router,  # before catalog's: /v1/images/actions is not an image id
    catalog.router,
    ssh_keys.router,
    servers.router,
    backups.router,
    placement_groups.router,
    floating_ips.router,
    primary_ips.router,
    volumes.router,
    networks.router,
    networks.server_router,
    firewalls.router,
    load_balancer_types.router,
    load_balancers.router,
    certificates.router,
    actions.router,
    invoices.router,
    billing.usage_router,
    billing.credits_router,
    billing.payment_methods_router,
    billing.pricing_plans_router,
    tickets.router,
    admin_tickets.router,
    maintenance_windows.router,
    maintenance_windows.admin_router,
    notifications.router,
    alert_rules.router,
    uptime_monitors.router,
    alerts.router,
)


HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests the gateway answered, by method and status code.", ["method", "code"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from a request's arrival to the start of its answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    """Counts every answer by method and status code and times it to its first byte (plain
    ASGI, like RequestIdMiddleware); Prometheus' rules read 5xx rates and p99 from them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        code = "500"

        async def send_counted(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = str(message["status"])
                HTTP_LATENCY.observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            HTTP_REQUESTS.labels(method, code).inc()


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RequestIdMiddleware:
    """Every answer carries a request id; a caller's own id is kept so it can trace it.

    Plain ASGI (not ``@app.middleware``, whose per-request task and streaming wrapper cost
    more than the rest of a cached request): it sets the id for everything inside it and
    adds the header to the answer's start message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        # A caller's id is kept when it is a sane token; anything else gets an id of ours.
        rid = given if REQUEST_ID.fullmatch(given) else new_correlation_id()
        token = correlation_id_var.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _REQUEST_ID]
                message = {**message, "headers": [*headers, (_REQUEST_ID, rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)


def maintenance_on(wired: Backends) -> Callable[[], Awaitable[bool]]:
    """Reads identity's ``maintenance_mode`` setting (see auth.maintenance)."""

    async def read() -> bool:
        setting = await wired.admin.get_setting(MAINTENANCE_SETTING)
        return setting.WhichOneof("value") == "boolean_value" and setting.boolean_value

    return read


def create_app(settings: Settings, engine: Engine, *, clock: Clock | None = None) -> FastAPI:
    """The gateway; ``engine`` is its own (migrated) database, which holds operational state only."""
    channels: dict[str, aio.Channel] = {}
    key_file = settings.principal_service_key_file
    service_key = load_private_key(Path(key_file)) if key_file else None
    request_log = RequestLogWriter(engine)
    cache = PrincipalCache(clock=clock)
    listener = InvalidationListener(settings.kafka_bootstrap, cache) if settings.kafka_bootstrap else None
    if listener is not None:
        cache.trusted = lambda: listener.current

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for name, address in settings.backend_addresses().items():
            channels[name] = make_channel(address, caller=SERVICE_NAME, deadline=2.0, service_key=service_key)
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            await request_log.close()
            await asyncio.gather(*(channel.close() for channel in channels.values()))

    app = FastAPI(
        title="Cloud Platform API",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    build_document = app.openapi
    app.openapi = lambda: typed_paging(build_document())  # type: ignore[method-assign]
    wired = Backends.wire(lambda backend: channels[backend])
    setattr(app.state, BACKENDS_STATE, wired)
    authenticator = Authenticator(wired.identity, cache, session_rate_limit=settings.session_rate_limit)
    throttle = CredentialThrottle(
        address_burst=settings.credential_address_burst,
        address_per_minute=settings.credential_address_per_minute,
        global_burst=settings.credential_global_burst,
        global_per_second=settings.credential_global_per_second,
        concurrency=settings.credential_concurrency,
        clock=clock,
    )
    setattr(app.state, THROTTLE_STATE, throttle)
    app.state.gate = Gate(
        authenticator, RateLimitStore(engine, clock=clock), throttle, MaintenanceSwitch(maintenance_on(wired))
    )
    app.state.console_tickets = ConsoleTickets(engine, clock=clock)
    app.include_router(console_relay.router)
    for router in ROUTERS:
        app.include_router(router, responses=COMMON_ERROR_ANSWERS)
    # Innermost: route errors are answers by then, so they get the RateLimit headers too.
    app.add_middleware(RateLimitHeadersMiddleware)
    # Added before the request-id middleware, so it runs inside it: replays get a request id too.
    app.add_middleware(IdempotencyMiddleware, store=IdempotencyStore(engine, clock=clock))
    # Security headers, Cache-Control: no-store and the body cap on every answer the log sees (a 413 too).
    app.add_middleware(
        HttpHygieneMiddleware,
        max_body_bytes=settings.max_request_body_bytes,
        body_timeout=settings.request_body_timeout_seconds,
    )
    # Outermost but for the request id: it logs every final answer (401, 429, 409, 422,
    # replays) as a request.completed event in the gateway's outbox, with its request id.
    app.add_middleware(
        RequestLogMiddleware, writer=request_log, routes=[r for router in ROUTERS for r in router.routes]
    )

    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the gateway process answers."""
        return {"status": "ok", "service": SERVICE_NAME, "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: every backend service answers its gRPC health check with SERVING."""

        async def check(name: str) -> tuple[str, str]:
            stub = health_pb2_grpc.HealthStub(channels[name])
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
            except aio.AioRpcError as exc:
                return name, f"unreachable: {exc.code().name}"
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        results = dict(await asyncio.gather(*(check(name) for name in channels)))
        ready = all(status == "SERVING" for status in results.values())
        return JSONResponse({"ready": ready, "backends": results}, status_code=200 if ready else 503)

    return app
