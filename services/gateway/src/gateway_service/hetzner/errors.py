"""The error object ``{"error": {"code", "message", "details"}}`` and the HTTP status of each code.

Every error answer of the public API goes through here: domain errors raised by handlers,
request validation errors, unknown routes (``501 not_implemented`` when the path and method
are an operation of Hetzner's API, :mod:`gateway_service.hetzner.not_implemented`) and
unexpected crashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cpshared.errors import DomainError, InvalidInput
from cpshared.logging import get_logger
from gateway_service.hetzner.not_implemented import example_path, family, hetzner_operation, not_implemented_message

log = get_logger(__name__)

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
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. not_found, rate_limit_exceeded.")
    message: str = Field(description="What went wrong and what to change.")
    details: dict[str, Any] | None = Field(default=None, description="Code-specific details, e.g. fields.")


class ErrorAnswer(BaseModel):
    """The body of every error answer (Hetzner Cloud's error object)."""

    error: ErrorDetail


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``statuses``: each is the error object, listing its codes."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = sorted(code for code, code_status in STATUS_BY_CODE.items() if code_status == status)
        documented[status] = {"model": ErrorAnswer, "description": "Error: " + ", ".join(codes)}
    return documented


# What any authenticated /v1 route may answer besides its own success.
COMMON_ERROR_ANSWERS = documented_errors(400, 401, 403, 404, 409, 422, 429, 500)

INTERNAL_ERROR_MESSAGE = "the request could not be completed because of an internal error; retry later"


def status_for(code: str) -> int:
    """The HTTP status of ``code``; an unlisted code is a client error (400) rather than a crash."""
    return STATUS_BY_CODE.get(code, 400)


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details) if details else None}}


def error_response(
    code: str, message: str, details: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(error_body(code, message, details)), status_code=status_for(code), headers=headers
    )


def field_errors(fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``invalid_input`` details as Hetzner gives them: ``{"fields": [{"name", "messages"}]}``."""
    return {"fields": [{"name": name, "messages": list(messages)} for name, messages in fields.items()]}


def invalid_field(name: str, message: str) -> InvalidInput:
    """An ``invalid_input`` error about one query or body field, with Hetzner's ``details``."""
    return InvalidInput(message, details=field_errors({name: [message]}))


def _validation_field_name(loc: Sequence[int | str]) -> str:
    # ("body", "name") -> "name"; ("query", "page") -> "page"; ("body",) -> "body"
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response("json_error", "the request body is not valid JSON; send a JSON object")
    fields: dict[str, list[str]] = {}
    for err in errors:
        fields.setdefault(_validation_field_name(err.get("loc", ())), []).append(str(err.get("msg", "is invalid")))
    names = ", ".join(fields)
    return error_response("invalid_input", f"invalid input in field(s): {names}", field_errors(fields))


def _http_exception_code(status: int) -> str:
    by_status = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 429: "rate_limit_exceeded"}
    if status in by_status:
        return by_status[status]
    return "service_error" if status >= 500 else "invalid_input"


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (Starlette's own 405 names only
    the first route's, though a path's GET and POST are separate routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        # PARTIAL: the path matches and the method does not; FULL: both do.
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def has_route(request: Request, method: str, path: str) -> bool:
    """Whether a route of the app answers ``method path``."""
    scope = {**request.scope, "method": method, "path": path}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the Hetzner error object and the status of its code."""

    async def on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return error_response(exc.code, exc.message, exc.details)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc)

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # Only the router raises 404 (no route) and 405 (no route for the method) here; the
        # routes' own "not found" is a DomainError.
        template = hetzner_operation(request.method, request.url.path) if exc.status_code in (404, 405) else None
        # A route for the operation that refused this path (an id that is no number) is a 404.
        if template is not None and not has_route(request, request.method, example_path(template)):
            # The family is served when its list (GET /v1/<family>) has a route.
            served = has_route(request, "GET", f"/v1/{family(template)}")
            return error_response("not_implemented", not_implemented_message(request.method, template, served))
        code = _http_exception_code(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        response = error_response(code, str(exc.detail), headers=headers)
        # A 405 stays a 405 (and keeps its Allow header) even though its code is invalid_input.
        response.status_code = exc.status_code
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs in Starlette's outermost middleware, which re-raises afterwards; the details
        # stay in the log, never in the answer.
        log.error("unhandled_error", method=request.method, path=request.url.path, error=repr(exc))
        return error_response("service_error", INTERNAL_ERROR_MESSAGE)

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
