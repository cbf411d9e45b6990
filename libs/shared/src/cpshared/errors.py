"""Domain errors: raised by handlers, mapped to gRPC status codes in one place."""

from __future__ import annotations

import re

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


class RateLimited(DomainError):
    """Too many attempts (credentials guessed, a flood of sign-ins): try again after ``retry_after``
    seconds. The seconds travel at the end of the message (``"...: retry after 30 s"``), so a gRPC
    caller reads them back with :meth:`from_message`; HTTP answers it ``429`` with ``Retry-After``."""

    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    code = "rate_limit_exceeded"
    _TAIL = re.compile(r"^(?P<message>.*): retry after (?P<seconds>[0-9]{1,9}) s$", re.DOTALL)

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"{message}: retry after {self.retry_after} s", details={"retry_after": self.retry_after})

    @classmethod
    def from_message(cls, text: str) -> RateLimited:
        """The error a message made by this class stands for (one second when it names none)."""
        found = cls._TAIL.match(text)
        if found is None:
            return cls(text or "too many attempts", retry_after=1)
        return cls(found.group("message"), retry_after=int(found.group("seconds")))


class Unavailable(DomainError):
    grpc_status = grpc.StatusCode.UNAVAILABLE
    code = "unavailable"


class TwoFactorRequired(Unauthenticated):
    """The password was right; the account also needs its second factor (a TOTP or recovery code).

    Its own code, so a client can tell "ask for the code" from "wrong credentials": the code
    travels in the gRPC status details (``"two_factor_required: ..."``) and the gateway keeps it.
    """

    code = "two_factor_required"
