"""The ``rate_limit_counters`` table: requests per API key per fixed one-hour window.

Every gateway replica counts in the same row, so a key's budget holds however many replicas
serve it. One ``INSERT ... ON DUPLICATE KEY UPDATE`` per request increments atomically (the
row lock serialises concurrent increments); the count is read back in the same transaction,
under that lock, so it includes this request and no increment is lost or seen twice.
Requests refused with 429 still count: a client that ignores the headers does not get its
budget back sooner. Windows older than the previous one are pruned at most once a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from cpshared.clock import Clock, get_clock

metadata = sa.MetaData()

# Mirrors migrations/versions/0004_rate_limits.py.
rate_limit_counters = sa.Table(
    "rate_limit_counters",
    metadata,
    sa.Column("api_key_id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=False),
    sa.Column("window_start", mysql.DATETIME(), primary_key=True),
    sa.Column("request_count", mysql.INTEGER(unsigned=True), nullable=False),
)

WINDOW = timedelta(hours=1)
# Counters of signed-in users (session access tokens) share the table with API keys' under
# ids no API key reaches: the user id above 2**63 (api_key_id is an unsigned BIGINT).
USER_BUCKET_BASE = 1 << 63


def rate_limit_bucket(api_key_id: int, user_id: int) -> int:
    """The counter of a request: its API key's, or for a session (no key) its user's."""
    return api_key_id if api_key_id else USER_BUCKET_BASE + user_id


PRUNE_INTERVAL = timedelta(minutes=1)
PRUNE_BATCH = 1000
_DEADLOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: the increment is simply retried
_ATTEMPTS = 3


@dataclass(frozen=True)
class Budget:
    limit: int
    used: int  # requests in this window, the current one included
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(int(self.resets_at.timestamp())),
        }


def window_start(when: datetime) -> datetime:
    """The start of the fixed window holding ``when`` (UTC, whole hours)."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class RateLimitStore:
    """Synchronous (SQLAlchemy Core); callers on the event loop run it in a thread."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or get_clock()
        self._next_prune: datetime | None = None

    def hit(self, api_key_id: int, limit: int) -> Budget:
        """Count one request of ``api_key_id`` (a :func:`rate_limit_bucket`) and return its budget after it."""
        now = self._clock.now()
        self.prune_if_due(now)
        start = window_start(now)
        naive_start = start.replace(tzinfo=None)
        upsert = (
            mysql.insert(rate_limit_counters)
            .values(api_key_id=api_key_id, window_start=naive_start, request_count=1)
            .on_duplicate_key_update(request_count=rate_limit_counters.c.request_count + 1)
        )
        read = sa.select(rate_limit_counters.c.request_count).where(
            rate_limit_counters.c.api_key_id == api_key_id, rate_limit_counters.c.window_start == naive_start
        )
        for attempt in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    conn.execute(upsert)
                    used = int(conn.execute(read).scalar_one())
                break
            except sa_exc.OperationalError as exc:
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                if code not in _DEADLOCK_ERRORS or attempt == _ATTEMPTS - 1:
                    raise
        return Budget(limit=limit, used=used, resets_at=start + WINDOW)

    def prune_if_due(self, now: datetime) -> int:
        if self._next_prune is not None and now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_INTERVAL
        return self.prune(now)

    def prune(self, now: datetime) -> int:
        """Delete up to one batch of windows that ended before the current one began."""
        oldest_kept = (window_start(now) - WINDOW).replace(tzinfo=None)
        with self._engine.begin() as conn:
            result = conn.execute(
                rate_limit_counters.delete()
                .where(rate_limit_counters.c.window_start < oldest_kept)
                .with_dialect_options(mysql_limit=PRUNE_BATCH)
            )
        return int(result.rowcount)
