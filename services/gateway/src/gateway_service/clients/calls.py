"""A backend's gRPC status becomes the public error of the same meaning: the one place for it.

Every client awaits its gRPC calls through :func:`backend_call`, which raises the public error
(:func:`domain_error_for`) for a failed call; routers never see a gRPC error.

Backends abort with ``"<code>: <message>"`` (cpshared's error interceptor); the message says
what to change and is passed on. The backend's code is kept when it is a public code with the
same HTTP status as the gRPC status's own (``two_factor_required`` is a 401 like
``unauthorized``): a client learns what to do next, and the status still means the same.
Statuses that only mean "the backend broke" are not explained to the caller: the details
stay in the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar

import grpc
from grpc import aio

from cpshared import errors
from cpshared.logging import get_logger
from hetzner_conventions.errors import INTERNAL_ERROR_MESSAGE, STATUS_BY_CODE, status_for

log = get_logger(__name__)
Answer = TypeVar("Answer")


class BackendTimeout(errors.DomainError):
    code = "timeout"


ERROR_BY_STATUS: Mapping[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidInput,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidInput,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.FAILED_PRECONDITION: errors.PreconditionFailed,
    grpc.StatusCode.PERMISSION_DENIED: errors.Forbidden,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.LimitExceeded,
}


# Hetzner's codes for a FAILED_PRECONDITION about the resource's state that Hetzner names itself.
RESOURCE_STATE_CODES = frozenset(
    {
        "locked",
        "protected",
        "server_not_stopped",
        "server_not_running",
        "resource_in_use",
        # private networks' (network service):
        "server_already_attached",
        "server_not_attached_to_network",
        "ip_not_available",
        "no_subnet_available",
        "networks_overlap",
        # firewalls' (network service):
        "firewall_already_applied",
        "firewall_already_removed",
        "server_already_added",
        # load balancers' (network service):
        "target_already_defined",
        "source_port_already_used",
        "load_balancer_not_attached_to_network",
        "load_balancer_already_attached",
    }
)


def domain_error_for(exc: grpc.RpcError, backend: str) -> errors.DomainError:
    """The public error for a failed call to ``backend``."""
    code = exc.code() if isinstance(exc, aio.AioRpcError | grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, aio.AioRpcError | grpc.Call) else None) or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.Unavailable(f"the {backend} service is unavailable; retry in a moment")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return BackendTimeout(f"the {backend} service did not answer in time; retry in a moment")
    error_class = ERROR_BY_STATUS.get(code)
    if error_class is None:
        log.error("backend_call_failed", backend=backend, status=code.name, details=details)
        return errors.DomainError(INTERNAL_ERROR_MESSAGE)
    backend_code, separator, rest = details.partition(": ")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and backend_code == errors.RateLimited.code:
        # Too many attempts (identity's sign-in throttle, its busy password checks): a 429 with Retry-After.
        return errors.RateLimited.from_message(rest)
    kept = status_for(backend_code) == status_for(error_class.code) or (
        code == grpc.StatusCode.FAILED_PRECONDITION and backend_code in RESOURCE_STATE_CODES
    )
    if separator and backend_code in STATUS_BY_CODE and kept:
        error = error_class(rest or f"the {backend} service refused the request ({code.name})")
        error.code = backend_code
        return error
    return error_class(details or f"the {backend} service refused the request ({code.name})")


async def backend_call(backend: str, call: Awaitable[Answer]) -> Answer:
    """The answer of a gRPC call to ``backend``; a failed call raises its public error."""
    try:
        return await call
    except grpc.RpcError as exc:
        raise domain_error_for(exc, backend) from None
