"""Server interceptors: request context, metrics and the mapping of domain errors.

grpc.aio interceptors see a handler, not a call, so each interceptor wraps the behaviour
of the handler it is given with its own ``around`` step. Streaming-response handlers
(health Watch, reflection) are passed through: wrapping them would have to buffer them.

Authentication: :class:`PrincipalInterceptor` verifies the signed principal assertion in
``x-principal`` and refuses a call without a valid one (UNAUTHENTICATED), except for health,
reflection and ServiceInfo, which probes and operators call without one. A server built
without trusted keys runs in *unauthenticated mode*: it verifies nothing and binds no
principal (the skeleton services of the local stack run so until keys are handed out).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from cpshared.auth.principal import InvalidPrincipal, TrustedKeys, verify
from cpshared.clock import utcnow
from cpshared.context import (
    ACTOR_IP_HEADER,
    ACTOR_ORGANIZATION_HEADER,
    ACTOR_USER_AGENT_HEADER,
    ANONYMOUS,
    CALLER_HEADER,
    CORRELATION_ID_HEADER,
    PRINCIPAL_HEADER,
    ActorContext,
    Caller,
    VerifiedPrincipal,
    actor_var,
    caller_var,
    correlation_id_var,
    new_correlation_id,
    principal_var,
)
from cpshared.errors import DomainError
from cpshared.logging import get_logger
from cpshared.metrics import GRPC_SERVER_LATENCY, GRPC_SERVER_REQUESTS

log = get_logger(__name__)

# The stubs make RpcMethodHandler generic; at run time it is not subscriptable, hence strings.
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]]
Call = Callable[[], Awaitable[Any]]


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` → (``pkg.Service``, ``Method``)."""
    _, _, rest = full_method.partition("/")
    service, _, method = rest.partition("/")
    return service, method


class AroundInterceptor(aio.ServerInterceptor):
    """Runs every unary-response call of the server inside :meth:`around`."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        if not (handler.unary_unary or handler.stream_unary):
            return self.streaming(handler, details)
        method = details.method
        state = self.prepare(details)

        def wrap(behaviour: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
            async def wrapped(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
                return await self.around(method, context, state, lambda: behaviour(request, context))

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        assert handler.stream_unary is not None
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def prepare(self, details: grpc.HandlerCallDetails) -> Any:
        """Per-call state computed from the call details (metadata) before the call runs."""
        return None

    def streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The handler to use for a streaming-response call: by default the handler itself."""
        return handler

    @abstractmethod
    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any: ...


def parse_caller(raw: str | bytes | None) -> Caller:
    """``service:<name>`` names a calling service; anything else is anonymous.

    The caller is informational (logged and counted), never trusted for authorization:
    that is the verified principal's job (:class:`PrincipalInterceptor`).
    """
    if raw is None:
        return ANONYMOUS
    text = raw.decode() if isinstance(raw, bytes) else raw
    kind, _, name = text.partition(":")
    if kind == "service" and name:
        return Caller(kind="service", name=name)
    return ANONYMOUS


class ContextInterceptor(AroundInterceptor):
    """Binds the correlation id, the caller and the request's actor (client address and user
    agent, as the gateway saw them) from metadata to contextvars for the call."""

    def prepare(self, details: grpc.HandlerCallDetails) -> tuple[str, Caller, ActorContext]:
        metadata = dict(details.invocation_metadata or ())
        correlation_id = metadata.get(CORRELATION_ID_HEADER)
        if isinstance(correlation_id, bytes):
            correlation_id = correlation_id.decode()
        correlation_id = correlation_id or new_correlation_id()
        ip, user_agent = metadata.get(ACTOR_IP_HEADER, ""), metadata.get(ACTOR_USER_AGENT_HEADER, b"")
        organization = metadata.get(ACTOR_ORGANIZATION_HEADER, "")
        organization = organization.decode() if isinstance(organization, bytes) else organization
        actor = ActorContext(
            organization_id=int(organization) if organization.isdigit() else 0,
            ip=(ip.decode() if isinstance(ip, bytes) else ip)[:45],
            user_agent=(user_agent.decode("utf-8", "replace") if isinstance(user_agent, bytes) else user_agent)[:512],
            request_id=correlation_id,
        )
        return correlation_id, parse_caller(metadata.get(CALLER_HEADER)), actor

    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any:
        correlation_id, caller, actor = state
        cid_token = correlation_id_var.set(correlation_id)
        caller_token = caller_var.set(caller)
        actor_token = actor_var.set(actor)
        try:
            return await call()
        finally:
            correlation_id_var.reset(cid_token)
            caller_var.reset(caller_token)
            actor_var.reset(actor_token)


# Called without a principal: load balancers, probes and operators' tools.
OPEN_SERVICES = frozenset(
    {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "cloudplatform.ops.v1.ServiceInfoService"}
)


def _metadata_text(details: grpc.HandlerCallDetails, key: str) -> str | None:
    for name, value in details.invocation_metadata or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


class PrincipalInterceptor(AroundInterceptor):
    """Verifies the principal assertion of every call and binds the principal for the handler.

    A streaming-response call is refused the same way when its assertion is not valid; its
    handler is not wrapped, so it does not see the principal in the contextvar (no contract
    has a streaming RPC that needs it yet).
    """

    VERIFIED_CACHE = 4096
    """Assertions whose signature was checked, kept until they expire: a caller sends the same
    one on many calls (the gateway, for a key, for minutes), and an Ed25519 verification costs
    more than the rest of the interceptor. Only the lifetime is checked again on a hit."""

    def __init__(self, trusted: TrustedKeys) -> None:
        self._trusted = trusted
        self._verified: OrderedDict[str, VerifiedPrincipal] = OrderedDict()

    def prepare(self, details: grpc.HandlerCallDetails) -> VerifiedPrincipal | InvalidPrincipal | None:
        service, _ = split_method(details.method)
        if service in OPEN_SERVICES:
            return None
        token = _metadata_text(details, PRINCIPAL_HEADER)
        if not token:
            return InvalidPrincipal(f"the call carries no principal assertion ({PRINCIPAL_HEADER} metadata)")
        now = utcnow()
        cached = self._verified.get(token)
        if cached is not None and now < cached.principal.expires_at:
            self._verified.move_to_end(token)
            return cached
        try:
            verified = VerifiedPrincipal(verify(token, self._trusted, now), token)
        except InvalidPrincipal as exc:
            self._verified.pop(token, None)
            return exc
        self._verified[token] = verified
        while len(self._verified) > self.VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return verified

    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any:
        if state is None:
            return await call()
        if isinstance(state, InvalidPrincipal):
            log.info("grpc_call_unauthenticated", method=method, reason=state.message)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{state.code}: {state.message}")
        token = principal_var.set(state)
        try:
            return await call()
        finally:
            principal_var.reset(token)

    def streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        state = self.prepare(details)
        if not isinstance(state, InvalidPrincipal):
            return handler
        refusal = state

        async def refuse(request: Any, context: aio.ServicerContext[Any, Any]) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{refusal.code}: {refusal.message}")

        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                refuse,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            refuse, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


class MetricsInterceptor(AroundInterceptor):
    """Counts every call by method and status code and times it."""

    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any:
        service, name = split_method(method)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await call()
        except BaseException:
            aborted = context.code()
            code = aborted if isinstance(aborted, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
            raise
        finally:
            GRPC_SERVER_LATENCY.labels(service, name).observe(time.perf_counter() - started)
            GRPC_SERVER_REQUESTS.labels(service, name, code.name).inc()


class ErrorMappingInterceptor(AroundInterceptor):
    """Turns a :class:`DomainError` into its status code; anything else into INTERNAL, logged."""

    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any:
        try:
            return await call()
        except aio.AbortError:
            raise
        except DomainError as exc:
            await context.abort(exc.grpc_status, f"{exc.code}: {exc.message}")
        except Exception:
            log.exception("grpc_handler_failed", method=method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def default_interceptors(trusted: TrustedKeys | None = None) -> list[aio.ServerInterceptor]:
    """The server's interceptors; without ``trusted`` keys the server is in unauthenticated mode."""
    # Outermost first: the context is bound before metrics and errors see the call, and
    # metrics count the calls refused for want of a principal.
    authentication: list[aio.ServerInterceptor] = [PrincipalInterceptor(trusted)] if trusted else []
    return [ContextInterceptor(), MetricsInterceptor(), *authentication, ErrorMappingInterceptor()]
