"""Wires the audit service together: the engine, the audit log's reads over it, and the
chains' store for verification, digests and retention."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from audit_service.adapters.chain_store import SqlChainStore
from audit_service.adapters.repository_audit_log import AuditLogRepository
from cpshared.db import make_engine


class Audit:
    """What the entrypoints need: the audit log's reads and its chains, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit_logs = AuditLogRepository(engine)
        self.chains = SqlChainStore(engine)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(database_url: str, *, pool_size: int = 5) -> Audit:
    return Audit(make_engine(database_url, pool_size=pool_size))
