"""The audit service's housekeeping, in a thread of its server process: a signed digest of
the chains' heads every ``audit_digest_interval_seconds``, and retention pruning once a day.

Several replicas may run it: a MariaDB named lock lets one do each round, the others skip.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from audit_service.bootstrap import Audit
from audit_service.config import AuditKeySettings
from audit_service.service_layer.integrity import create_digest, prune
from cpshared.clock import utcnow
from cpshared.db import database_lock
from cpshared.logging import get_logger

log = get_logger(__name__)

LOCK = "audit_keeper"
PRUNE_EVERY = timedelta(days=1)


class Keeper:
    def __init__(self, audit: Audit, settings: AuditKeySettings) -> None:
        self.audit = audit
        self.key = settings.signing_key()
        self.interval = settings.audit_digest_interval_seconds
        self.retention = timedelta(days=settings.audit_retention_days)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-keeper", daemon=True)
        self._next_prune = utcnow()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def round(self) -> None:
        """One round: sign the heads; prune when a day has passed since the last pruning."""
        # Per database: named locks are server-wide, and each audit database keeps its own log.
        with database_lock(self.audit.engine, LOCK) as held:
            if not held:
                return  # another replica keeps the log this round
            now = utcnow()
            digest = create_digest(self.audit.chains, self.key, now)
            if digest:
                log.info("audit_digest_signed", digest_id=digest)
            if now >= self._next_prune:
                removed = prune(self.audit.chains, self.key, now, self.retention)
                self._next_prune = now + PRUNE_EVERY
                log.info("audit_pruned", removed=removed, retention_days=self.retention.days)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.round()
            except Exception as exc:  # the database may be away: the next round tries again
                log.warning("audit_keeper_round_failed", error=f"{type(exc).__name__}: {exc}")
