"""The outside world as the audit service layer sees it: the log's reads for the query API
and the chains for verification, digests and retention. The MariaDB adapters implement them
(adapters/repository_audit_log.py, adapters/chain_store.py); the bootstrap wires them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from audit_service.domain.audit_log import AuditLogEntry, AuditLogQuery, Page, Reader


class AuditLogRepository(Protocol):
    def search(self, query: AuditLogQuery, reader: Reader, page: Page) -> tuple[list[AuditLogEntry], int]:
        """One page of what ``reader`` may see of the entries matching ``query``, and their total."""
        ...

    def login_activity(self, user_id: int, page: Page) -> tuple[list[AuditLogEntry], int]:
        """One page of ``user_id``'s sign-in entries, newest first, and their total."""
        ...


class ChainReader(Protocol):
    """The reads of one verification, on one consistent connection."""

    def chain_ids(self) -> set[str]: ...

    def anchors(self) -> Iterator[dict[str, Any]]: ...

    def digests_newest_first(self) -> Iterator[dict[str, Any]]: ...

    def rows(self, chain: str) -> Iterator[dict[str, Any]]:
        """A chain's rows in chain order."""
        ...


class ChainStore(Protocol):
    def reader(self) -> AbstractContextManager[ChainReader]: ...

    def sign_heads(self, key: bytes, now: datetime) -> int | None:
        """Sign every chain's head in a new digest; None when nothing moved since the latest one."""
        ...

    def prune(self, key: bytes, now: datetime, retention: timedelta) -> int:
        """Delete rows older than ``retention``, leaving signed anchors; the rows deleted."""
        ...
