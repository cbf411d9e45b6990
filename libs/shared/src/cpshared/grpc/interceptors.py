"""Server interceptors: request context, metrics and the mapping of domain errors.

grpc.aio interceptors see a handler, not a call, so each interceptor wraps the behaviour
of the handler it is given with its own ``around`` step. Streaming-response handlers
(health Watch, reflection) are passed through: wrapping them would have to buffer them.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from cpshared.context import (
    ANONYMOUS,
    CALLER_HEADER,
    CORRELATION_ID_HEADER,
    Caller,
    caller_var,
    correlation_id_var,
    new_correlation_id,
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
        if handler is None or not (handler.unary_unary or handler.stream_unary):
            return handler
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

    @abstractmethod
    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any: ...


def parse_caller(raw: str | bytes | None) -> Caller:
    """``service:<name>`` names a calling service; anything else is anonymous.

    Signed principal assertions replace this bare header when the identity service issues
    them; until then the caller is informational (logged and counted), never trusted for
    authorization.
    """
    if raw is None:
        return ANONYMOUS
    text = raw.decode() if isinstance(raw, bytes) else raw
    kind, _, name = text.partition(":")
    if kind == "service" and name:
        return Caller(kind="service", name=name)
    return ANONYMOUS


class ContextInterceptor(AroundInterceptor):
    """Binds the correlation id and the caller from metadata to contextvars for the call."""

    def prepare(self, details: grpc.HandlerCallDetails) -> tuple[str, Caller]:
        metadata = dict(details.invocation_metadata or ())
        correlation_id = metadata.get(CORRELATION_ID_HEADER)
        if isinstance(correlation_id, bytes):
            correlation_id = correlation_id.decode()
        return correlation_id or new_correlation_id(), parse_caller(metadata.get(CALLER_HEADER))

    async def around(self, method: str, context: aio.ServicerContext[Any, Any], state: Any, call: Call) -> Any:
        correlation_id, caller = state
        cid_token = correlation_id_var.set(correlation_id)
        caller_token = caller_var.set(caller)
        try:
            return await call()
        finally:
            correlation_id_var.reset(cid_token)
            caller_var.reset(caller_token)


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


def default_interceptors() -> list[aio.ServerInterceptor]:
    # Outermost first: the context is bound before metrics and errors see the call.
    return [ContextInterceptor(), MetricsInterceptor(), ErrorMappingInterceptor()]
