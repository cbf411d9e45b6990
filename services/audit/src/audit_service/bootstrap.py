"""Wires the audit service's query side together: the engine and the repository over it."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from audit_service.adapters.repository_audit_log import AuditLogRepository
from cpshared.db import make_engine


class Audit:
    """What the gRPC entrypoint needs: the audit log's reads, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit_logs = AuditLogRepository(engine)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(database_url: str, *, pool_size: int = 5) -> Audit:
    return Audit(make_engine(database_url, pool_size=pool_size))
