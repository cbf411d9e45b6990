"""Use cases of the audit log's query API: list entries, list a user's sign-in attempts."""

from __future__ import annotations

from audit_service.domain.audit_log import (
    AuditLogEntry,
    AuditLogQuery,
    LoginAttempt,
    Page,
    Reader,
    login_attempt,
)
from audit_service.service_layer.ports import AuditLogRepository
from cpshared.errors import NotFound


def list_audit_logs(
    query: AuditLogQuery, reader: Reader, page: Page, repository: AuditLogRepository
) -> tuple[list[AuditLogEntry], int]:
    """(entries, total_entries): one page of what ``reader`` may see of the matching entries.

    A filter naming another tenant's user or organization is not an error: it matches
    nothing the reader may see, so the answer is empty and says nothing about that tenant.
    """
    return repository.search(query.check(), reader, page)


def list_login_activity(
    user_id: int, reader: Reader, page: Page, repository: AuditLogRepository
) -> tuple[list[LoginAttempt], int]:
    """(attempts, total_entries): one page of ``user_id``'s sign-in attempts, newest first."""
    if user_id <= 0:
        raise NotFound("login activity needs a user: give user_id")
    if not reader.may_read_user(user_id):
        raise NotFound(f"login activity of user {user_id} does not exist")
    entries, total = repository.login_activity(user_id, page)
    return [login_attempt(e) for e in entries], total
