"""The AuditService gRPC API: the audit log's entries and a user's sign-in attempts.

Each query runs on a worker thread (SQLAlchemy is blocking); who may see what is the
verified principal's business (adapters/authorization.py), applied in the SQL itself.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from audit_service.adapters.authorization import current_reader
from audit_service.bootstrap import Audit
from audit_service.domain.audit_log import AuditLogEntry, AuditLogQuery, LoginAttempt, page_of, parse_sort
from audit_service.service_layer import audit_log
from cloudplatform.audit.v1 import audit_service_pb2 as pb
from cloudplatform.audit.v1 import audit_service_pb2_grpc as pb_grpc
from cpshared.timestamps import to_timestamp as _ts

Context = aio.ServicerContext[Any, Any]


def _naive_utc(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def entry_message(entry: AuditLogEntry) -> pb.AuditLogEntry:
    return pb.AuditLogEntry(
        id=entry.id,
        user_id=entry.user_id or 0,
        organization_id=entry.organization_id or 0,
        action=entry.action,
        resource_type=entry.resource_type or "",
        resource_id=entry.resource_id or 0,
        old_values=_json(entry.old_values),
        new_values=_json(entry.new_values),
        ip_address=entry.ip_address or "",
        user_agent=entry.user_agent or "",
        api_key_id=entry.api_key_id or 0,
        request_id=entry.request_id or "",
        response_code=entry.response_code or 0,
        duration_ms=entry.duration_ms or 0,
        created_at=_ts(entry.created_at),
        event_type=entry.event_type,
    )


def attempt_message(attempt: LoginAttempt) -> pb.LoginAttempt:
    return pb.LoginAttempt(
        id=attempt.id,
        action=attempt.action,
        ip_address=attempt.ip_address,
        user_agent=attempt.user_agent,
        success=attempt.success,
        reason=attempt.reason,
        created_at=_ts(attempt.created_at),
    )


def query_of(request: pb.ListAuditLogsRequest) -> AuditLogQuery:
    """The filters of ``request``; a zero id or an empty string is "any"."""
    return AuditLogQuery(
        user_id=request.user_id or None,
        organization_id=request.organization_id or None,
        action=request.action or None,
        action_prefix=request.action_prefix or None,
        resource_type=request.resource_type or None,
        resource_id=request.resource_id or None,
        request_id=request.request_id or None,
        since=_naive_utc(request.since) if request.HasField("since") else None,
        until=_naive_utc(request.until) if request.HasField("until") else None,
        sort=parse_sort(list(request.sort)),
    )


class AuditLogServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    async def ListAuditLogs(  # noqa: N802
        self, request: pb.ListAuditLogsRequest, context: Context
    ) -> pb.ListAuditLogsResponse:
        page = page_of(request.page, request.per_page)
        entries, total = await asyncio.to_thread(
            audit_log.list_audit_logs, query_of(request), current_reader(), page, self._audit.audit_logs
        )
        return pb.ListAuditLogsResponse(
            entries=[entry_message(e) for e in entries], page=page.number, per_page=page.size, total_entries=total
        )

    async def ListLoginActivity(  # noqa: N802
        self, request: pb.ListLoginActivityRequest, context: Context
    ) -> pb.ListLoginActivityResponse:
        page = page_of(request.page, request.per_page)
        attempts, total = await asyncio.to_thread(
            audit_log.list_login_activity, request.user_id, current_reader(), page, self._audit.audit_logs
        )
        return pb.ListLoginActivityResponse(
            attempts=[attempt_message(a) for a in attempts], page=page.number, per_page=page.size, total_entries=total
        )


def add_audit_log_servicer(server: aio.Server, audit: Audit) -> list[str]:
    pb_grpc.add_AuditServiceServicer_to_server(AuditLogServicer(audit), server)
    return [pb.DESCRIPTOR.services_by_name["AuditService"].full_name]
