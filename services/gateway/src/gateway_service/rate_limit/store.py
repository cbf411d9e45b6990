"""The ``rate_limit_counters`` table: requests per API key per fixed one-hour window.

Every gateway replica counts in the same row, so a key's budget holds however many replicas
serve it. A replica does not write the row for every request: it *leases* a block of the
budget (one ``INSERT ... ON DUPLICATE KEY UPDATE request_count = request_count + block``,
read back under the same row lock) and admits that many requests from memory before it
leases again. The row counts every request any replica may admit, so together they never
admit more than the limit, and a busy key costs the database one write per block instead of
one per request.

The block is 1% of the limit (at most 100): for limits under 200 it is one request, so small
budgets are counted exactly, request by request. The price of a larger block is precision at
the end of a window: requests a replica leased and did not use are spent, so a key served by
``n`` replicas may be refused up to ``n * block`` requests early (≤ n % of its budget), and
``RateLimit-Remaining`` is exact for what this replica knows (the shared count less its own
unused lease). Once the shared count reaches the limit the replica refuses the key's requests
from memory until the window ends, without asking the database again. Windows older than the
previous one are pruned at most once a minute, in the table and in memory.
"""

from __future__ import annotations

import threading
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
PRUNE_INTERVAL = timedelta(minutes=1)
PRUNE_BATCH = 1000
_DEADLOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: the increment is simply retried
_ATTEMPTS = 3
LEASE_FRACTION = 100
MAX_LEASE = 100


def lease_size(limit: int) -> int:
    """How many requests of a ``limit``-per-window budget one lease takes: 1 %, 1 to 100."""
    return max(1, min(MAX_LEASE, limit // LEASE_FRACTION))


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


@dataclass
class _Lease:
    """What this replica holds of one key's budget in one window."""

    window: datetime
    left: int = 0
    """Requests leased and not admitted yet."""
    counted: int = 0
    """The shared count after this replica's last lease: every replica's leases together."""

    def spent(self, limit: int) -> bool:
        return self.counted >= limit


class RateLimitStore:
    """Synchronous (SQLAlchemy Core); callers on the event loop run it in a thread."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or get_clock()
        self._next_prune: datetime | None = None
        self._leases: dict[int, _Lease] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, api_key_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(api_key_id, threading.Lock())

    def hit(self, api_key_id: int, limit: int) -> Budget:
        """Count one request of ``api_key_id`` and return its budget after it."""
        now = self._clock.now()
        self.prune_if_due(now)
        start = window_start(now)
        with self._lock(api_key_id):
            lease = self._leases.get(api_key_id)
            if lease is None or lease.window != start:
                lease = self._leases[api_key_id] = _Lease(window=start)
            if lease.left == 0 and not lease.spent(limit):
                block = lease_size(limit)
                lease.counted = self._take(api_key_id, start, block)
                # What the block added beyond the limit was never there to lease.
                lease.left = max(0, min(block, limit - (lease.counted - block)))
            if lease.left == 0:
                return Budget(limit=limit, used=limit + 1, resets_at=start + WINDOW)
            lease.left -= 1
            used = min(limit, lease.counted) - lease.left
        return Budget(limit=limit, used=used, resets_at=start + WINDOW)

    def _take(self, api_key_id: int, start: datetime, block: int) -> int:
        """Add ``block`` to the key's shared count for the window starting at ``start``; the count after."""
        naive_start = start.replace(tzinfo=None)
        upsert = (
            mysql.insert(rate_limit_counters)
            .values(api_key_id=api_key_id, window_start=naive_start, request_count=block)
            .on_duplicate_key_update(request_count=rate_limit_counters.c.request_count + block)
        )
        read = sa.select(rate_limit_counters.c.request_count).where(
            rate_limit_counters.c.api_key_id == api_key_id, rate_limit_counters.c.window_start == naive_start
        )
        for attempt in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    conn.execute(upsert)
                    return int(conn.execute(read).scalar_one())
            except sa_exc.OperationalError as exc:
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                if code not in _DEADLOCK_ERRORS or attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def prune_if_due(self, now: datetime) -> int:
        if self._next_prune is not None and now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_INTERVAL
        current = window_start(now)
        with self._guard:
            for key in [k for k, lease in self._leases.items() if lease.window != current]:
                del self._leases[key]
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
