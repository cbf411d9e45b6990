"""Domain errors: raised by handlers, mapped to gRPC status codes in one place."""

from __future__ import annotations

import grpc


class DomainError(Exception):
    """Base of every error a caller can cause; ``code`` is the public API error code."""

    grpc_status: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    code: str = "service_error"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(DomainError):
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    code = "invalid_input"


class NotFound(DomainError):
    grpc_status = grpc.StatusCode.NOT_FOUND
    code = "not_found"


class AlreadyExists(DomainError):
    grpc_status = grpc.StatusCode.ALREADY_EXISTS
    code = "uniqueness_error"


class Conflict(DomainError):
    """The resource changed or is locked; retrying later may succeed."""

    grpc_status = grpc.StatusCode.ABORTED
    code = "conflict"


class PreconditionFailed(DomainError):
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION
    code = "precondition_failed"


class Forbidden(DomainError):
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    code = "forbidden"


class Unauthenticated(DomainError):
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    code = "unauthorized"


class LimitExceeded(DomainError):
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    code = "resource_limit_exceeded"


class Unavailable(DomainError):
    grpc_status = grpc.StatusCode.UNAVAILABLE
    code = "unavailable"


class TwoFactorRequired(Unauthenticated):
    """The password was right; the account also needs its second factor (a TOTP or recovery code).

    Its own code, so a client can tell "ask for the code" from "wrong credentials": the code
    travels in the gRPC status details (``"two_factor_required: ..."``) and the gateway keeps it.
    """

    code = "two_factor_required"
