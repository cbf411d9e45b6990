"""Every error of a FastAPI app that speaks Hetzner's API answered with Hetzner's error object
(:mod:`hetzner_conventions.errors`) and the status of its code: domain errors raised by
handlers, request validation errors, unknown routes (``501 not_implemented`` when the path and
method are an operation of Hetzner's API, :mod:`hetzner_conventions.not_implemented`) and
unexpected crashes. The gateway and the simulator install it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cpshared.errors import DomainError, RateLimited
from cpshared.logging import get_logger
from hetzner_conventions.errors import INTERNAL_ERROR_MESSAGE, STATUS_BY_CODE, error_body, field_errors, status_for
from hetzner_conventions.not_implemented import example_path, family, hetzner_operation, not_implemented_message

log = get_logger(__name__)


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


# What any authenticated /v1 route may answer besides its own success (413: a body past the
# gateway's cap; 423: a locked or protected resource).
COMMON_ERROR_ANSWERS = documented_errors(400, 401, 403, 404, 409, 413, 422, 423, 429, 500, 503)


def error_response(
    code: str, message: str, details: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(error_body(code, message, details)), status_code=status_for(code), headers=headers
    )


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
    # Every route, those of included routers too (FastAPI keeps an included router as one route).
    for route in iter_route_contexts(request.app.router.routes):
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
        # An error may name headers of its answer (a 503 maintenance's Retry-After); a refusal
        # for too many requests says when to come back.
        headers = dict(getattr(exc, "headers", None) or {})
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(exc.code, exc.message, exc.details, headers=headers or None)

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
