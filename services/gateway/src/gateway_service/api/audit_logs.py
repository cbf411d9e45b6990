"""``/v1/audit_logs`` and ``/v1/me/login_activity``: the audit log, read through the audit service.

- ``GET /v1/audit_logs``: entries matching every filter given (``user_id``,
  ``organization_id``, ``action`` exactly, ``action_prefix`` such as ``organization.``,
  ``resource_type``, ``resource_id``, ``request_id``, ``since`` inclusive and ``until``
  exclusive as ISO 8601 times, UTC when without an offset), ``page``/``per_page`` (1 to 50) with ``meta.pagination``
  and a ``Link`` header, ``sort`` by ``id`` or ``created`` (newest first by default). Needs
  the scope ``audit_logs:read``. Admins and support read every tenant's entries
  (policy.STAFF_READABLE); anyone else its own entries and those of the organizations it owns
  or administers (a plain or billing member reads only its own). The audit
  service applies that rule from the signed principal, which lists the caller's
  organizations; a filter naming another tenant answers an empty list, not an error.
- ``GET /v1/me/login_activity``: the caller's sign-in attempts, newest first, paged
  (scope ``account:read``, like the rest of ``/v1/me``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field, JsonValue

from cloudplatform.audit.v1 import audit_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, page_meta, sort_param
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.pagination import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, PageRequest
from hetzner_conventions.sorting import parse_sort

router = APIRouter(tags=["audit_logs"])

SORTABLE = ("id", "created")


class AuditLogOut(BaseModel):
    id: int
    user_id: int | None = Field(description="User who acted; null for a service or an anonymous request.")
    organization_id: int | None
    action: str = Field(description='What happened: the event type (e.g. "api_key.created") or "request".')
    resource_type: str | None
    resource_id: int | None
    old_values: JsonValue = Field(description="The resource's values before the change; null when none.")
    new_values: JsonValue = Field(description="The resource's values after the change; null when none.")
    ip_address: str | None
    user_agent: str | None
    api_key_id: int | None
    request_id: str | None = Field(description="X-Request-Id of the request the entry belongs to.")
    response_code: int | None = Field(description="HTTP status, for a request's entry.")
    duration_ms: int | None = Field(description="Time taken in milliseconds, for a request's entry.")
    created: datetime = Field(description="When it happened (UTC).")
    event_type: str


class AuditLogsAnswer(BaseModel):
    audit_logs: list[AuditLogOut]
    meta: Meta


class LoginAttemptOut(BaseModel):
    id: int
    action: str = Field(description='"user.login_succeeded", "user.login_failed" or "user.locked".')
    ip_address: str | None
    user_agent: str | None
    success: bool
    reason: str | None = Field(description='Why it failed, e.g. "wrong_password"; null when it succeeded.')
    created: datetime


class LoginActivityAnswer(BaseModel):
    login_activity: list[LoginAttemptOut]
    meta: Meta


def _json(text: str) -> JsonValue:
    return json.loads(text) if text else None


def audit_log_out(entry: pb.AuditLogEntry) -> AuditLogOut:
    return AuditLogOut(
        id=entry.id,
        user_id=entry.user_id or None,
        organization_id=entry.organization_id or None,
        action=entry.action,
        resource_type=entry.resource_type or None,
        resource_id=entry.resource_id or None,
        old_values=_json(entry.old_values),
        new_values=_json(entry.new_values),
        ip_address=entry.ip_address or None,
        user_agent=entry.user_agent or None,
        api_key_id=entry.api_key_id or None,
        request_id=entry.request_id or None,
        response_code=entry.response_code or None,
        duration_ms=entry.duration_ms if entry.response_code else None,
        created=entry.created_at.ToDatetime(tzinfo=UTC),
        event_type=entry.event_type,
    )


def login_attempt_out(attempt: pb.LoginAttempt) -> LoginAttemptOut:
    return LoginAttemptOut(
        id=attempt.id,
        action=attempt.action,
        ip_address=attempt.ip_address or None,
        user_agent=attempt.user_agent or None,
        success=attempt.success,
        reason=attempt.reason or None,
        created=attempt.created_at.ToDatetime(tzinfo=UTC),
    )


def _timestamp(name: str, text: str | None) -> Timestamp | None:
    """The ISO 8601 time ``text`` (already matched by TIME_PATTERN) as a protobuf Timestamp;
    a time without an offset is taken as UTC."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.upper())
        utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        stamp = Timestamp()
        stamp.FromDatetime(utc)
    except (OverflowError, ValueError):
        raise invalid_field(
            name, f"{name} {text!r} is not a valid time: give an ISO 8601 time such as 2026-11-01T12:00:00Z"
        ) from None
    return stamp


PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description=f"Entries per page, 1 to {MAX_PER_PAGE}.")]
Id = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# ISO 8601 date and time, to the second or finer, with an offset or Z (none: UTC).
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
Time = Annotated[
    str | None,
    Query(
        pattern=TIME_PATTERN,
        description="ISO 8601 time, e.g. 2026-11-01T12:00:00Z; UTC when it has no offset.",
        examples=["2026-11-01T12:00:00Z"],
    ),
]


@router.get("/v1/audit_logs")
@scope(Family.AUDIT_LOGS, Access.READ)
async def list_audit_logs(
    request: Request,
    response: Response,
    principal: Authenticated,
    user_id: Id = None,
    organization_id: Id = None,
    action: Annotated[str | None, Query(max_length=255, description="Exact action, e.g. user.login_failed.")] = None,
    action_prefix: Annotated[
        str | None, Query(max_length=255, description="Actions starting with this, e.g. organization.")
    ] = None,
    resource_type: Annotated[str | None, Query(max_length=50)] = None,
    resource_id: Id = None,
    request_id: Annotated[str | None, Query(max_length=36)] = None,
    since: Time = None,
    until: Time = None,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
    sort: Annotated[
        list[str] | None, Query(description="id or created, optionally :asc or :desc; newest first by default.")
    ] = None,
) -> AuditLogsAnswer:
    """Audit log entries the caller may see, matching every filter given, one page of them."""
    sort_keys = parse_sort(sort or [], SORTABLE)
    answer = await backends(request).audit.list_audit_logs(
        pb.ListAuditLogsRequest(
            user_id=user_id or 0,
            organization_id=organization_id or 0,
            action=action or "",
            action_prefix=action_prefix or "",
            resource_type=resource_type or "",
            resource_id=resource_id or 0,
            request_id=request_id or "",
            since=_timestamp("since", since),
            until=_timestamp("until", until),
            page=page,
            per_page=per_page,
            sort=sort_param(sort_keys),
        )
    )
    meta = page_meta(request, response, PageRequest(page, per_page), answer.total_entries)
    return AuditLogsAnswer(audit_logs=[audit_log_out(e) for e in answer.entries], meta=meta)


@router.get("/v1/me/login_activity")
@scope(Family.ACCOUNT, Access.READ)
async def list_login_activity(
    request: Request,
    response: Response,
    principal: Authenticated,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> LoginActivityAnswer:
    """The caller's sign-in attempts, newest first, one page of them."""
    answer = await backends(request).audit.list_login_activity(principal.user_id, page, per_page)
    meta = page_meta(request, response, PageRequest(page, per_page), answer.total_entries)
    return LoginActivityAnswer(login_activity=[login_attempt_out(a) for a in answer.attempts], meta=meta)
