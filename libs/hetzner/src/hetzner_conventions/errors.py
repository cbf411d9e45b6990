"""Hetzner's error object ``{"error": {"code", "message", "details"}}`` and the HTTP status of each code.

Plain Python: what an answer says when something goes wrong, for every app that speaks
Hetzner's API (the gateway, the simulator). The FastAPI wiring that answers every error this
way is :mod:`hetzner_conventions.error_handlers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cpshared.errors import InvalidInput

# Hetzner's documented codes with their statuses, then the platform's own (marked).
STATUS_BY_CODE: Mapping[str, int] = {
    "invalid_input": 400,
    "json_error": 400,
    "unsupported_error": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "resource_limit_exceeded": 403,
    "token_readonly": 403,
    "not_found": 404,
    "uniqueness_error": 409,
    "conflict": 409,
    "locked": 423,
    "protected": 423,
    "server_not_stopped": 422,
    "resource_in_use": 422,
    "server_already_attached": 422,
    "server_not_attached_to_network": 422,
    "ip_not_available": 422,
    "no_subnet_available": 422,
    "networks_overlap": 422,
    "firewall_already_applied": 422,
    "firewall_already_removed": 422,
    "server_already_added": 422,
    "firewall_resource_not_found": 404,
    "target_already_defined": 422,
    "source_port_already_used": 422,
    "load_balancer_not_attached_to_network": 422,
    "load_balancer_already_attached": 422,
    "rate_limit_exceeded": 429,
    # Hetzner's docs list ``server_error`` as 500 and ``service_error`` as 503; the reference
    # README names only ``service_error``, which is also cpshared's default DomainError code,
    # so an unexpected failure is ``service_error`` with 500.
    "service_error": 500,
    "resource_unavailable": 503,
    "maintenance": 503,
    "unavailable": 503,
    "timeout": 504,
    # platform codes, not Hetzner's:
    "precondition_failed": 412,  # cpshared.errors.PreconditionFailed: the resource is not in the needed state
    "idempotency_key_reused": 422,  # an Idempotency-Key sent again with another request
    "two_factor_required": 401,  # cpshared.errors.TwoFactorRequired: right password, send the 2FA code too
    "server_not_running": 422,  # reset_password on a server that is not running (cf. server_not_stopped)
    "not_implemented": 501,  # an operation of Hetzner's API the platform does not offer yet
    "request_too_large": 413,  # a request body past the gateway's cap (CP_MAX_REQUEST_BODY_BYTES)
    "not_supported": 400,  # the upstream cloud has no such operation (a volume snapshot: Hetzner has none)
    "request_timeout": 408,  # a request body not sent within CP_REQUEST_BODY_TIMEOUT_SECONDS
}


INTERNAL_ERROR_MESSAGE = "the request could not be completed because of an internal error; retry later"


def status_for(code: str) -> int:
    """The HTTP status of ``code``; an unlisted code is a client error (400) rather than a crash."""
    return STATUS_BY_CODE.get(code, 400)


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details) if details else None}}


def field_errors(fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``invalid_input`` details as Hetzner gives them: ``{"fields": [{"name", "messages"}]}``."""
    return {"fields": [{"name": name, "messages": list(messages)} for name, messages in fields.items()]}


def invalid_field(name: str, message: str) -> InvalidInput:
    """An ``invalid_input`` error about one query or body field, with Hetzner's ``details``."""
    return InvalidInput(message, details=field_errors({name: [message]}))
