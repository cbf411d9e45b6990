"""The ``rate_limit_buckets`` table: one continuously refilling token bucket per API key (per
user for sessions), shared by every gateway replica.

Hetzner's semantics: a key's ``rate_limit`` is the bucket's capacity, and it refills at
capacity per hour, evenly (3,600 an hour is one request a second). A bucket is kept as one
time, ``full_at``: the moment it will be full again (a generic cell rate algorithm). Each
request costs ``interval = 1 h / capacity``; a request is admitted while ``full_at`` stays
within one hour (``capacity * interval``) of now. So ``RateLimit-Reset`` is ``full_at``,
``RateLimit-Remaining`` is how many intervals fit between ``full_at`` and now + 1 h, and a
refused request waits until one interval is free again (``Retry-After``). No row, or a row
whose ``full_at`` has passed, is a full bucket; the time only moves forward.

Every replica takes from the same row, so a key's budget holds however many replicas serve
it. A replica does not write the row for every request: it *leases* a block of the budget
(one short transaction that locks the row, reads ``full_at`` and moves it by the block's
cost) and admits that many requests from memory before it leases again. The block is 1 % of
the capacity (1 to 100): below 200 an hour it is one request, so small budgets are counted
exactly, request by request. A lease lasts as long as its block takes to refill; what a
replica leased and did not use in that time is spent (it refills like any request), so a key
served by ``n`` replicas may be refused up to ``n * block`` requests early (≤ n % of its
budget) and never admits more than the bucket holds. ``RateLimit-Remaining`` is exact for
what this replica knows (the shared bucket less its own unused lease). Once the bucket is
empty, the replica refuses the key's requests from memory until one interval has refilled,
without asking the database again (``full_at`` only grows, so nobody can have freed one
sooner). Rows of buckets full again are pruned at most once a minute.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from cpshared.clock import Clock, get_clock
from cpshared.timestamps import as_utc

metadata = sa.MetaData()

# Mirrors migrations/versions/0005_rate_limit_buckets.py.
rate_limit_buckets = sa.Table(
    "rate_limit_buckets",
    metadata,
    sa.Column("bucket_id", mysql.BIGINT(unsigned=True), primary_key=True, autoincrement=False),
    sa.Column("full_at", mysql.DATETIME(fsp=6), nullable=False),
)

PERIOD_US = 3_600_000_000
"""The bucket refills its whole capacity in one hour (microseconds)."""
# Buckets of signed-in users (session access tokens) share the table with API keys' under
# ids no API key reaches: the user id above 2**63 (bucket_id is an unsigned BIGINT).
USER_BUCKET_BASE = 1 << 63


def rate_limit_bucket(api_key_id: int, user_id: int) -> int:
    """The bucket of a request: its API key's, or for a session (no key) its user's."""
    return api_key_id if api_key_id else USER_BUCKET_BASE + user_id


PRUNE_INTERVAL = timedelta(minutes=1)
PRUNE_BATCH = 1000
_DEADLOCK_ERRORS = (1205, 1213)  # lock wait timeout, deadlock: the lease is simply retried
_ATTEMPTS = 3
LEASE_FRACTION = 100
MAX_LEASE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def lease_size(limit: int) -> int:
    """How many requests of a ``limit``-per-hour budget one lease takes: 1 %, 1 to 100."""
    return max(1, min(MAX_LEASE, limit // LEASE_FRACTION))


def interval_us(limit: int) -> int:
    """What one request costs, in microseconds of refill: 1 h / ``limit`` (rounded up, so
    ``limit`` requests never refill faster than one hour)."""
    return -(-PERIOD_US // limit)


def to_us(when: datetime) -> int:
    return (as_utc(when) - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _seconds_up(us: int) -> int:
    return -(-us // 1_000_000)


@dataclass(frozen=True)
class Budget:
    """A key's budget as one request left it: the headers of its answer."""

    limit: int
    remaining: int
    full_at: datetime
    """When the bucket is full again (``RateLimit-Reset``)."""
    retry_after: int | None = None
    """Seconds until one request is available again; set only when this request was refused."""

    @property
    def exceeded(self) -> bool:
        return self.retry_after is not None

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.full_at.timestamp())),
        }
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def bucket_budget(limit: int, full_at_us: int, now_us: int, *, refused: bool = False) -> Budget:
    """The budget of a bucket of ``limit`` per hour that is full at ``full_at_us``, seen at ``now_us``."""
    interval = interval_us(limit)
    full_at_us = max(full_at_us, now_us)
    remaining = max(0, (now_us + limit * interval - full_at_us) // interval)
    retry_after = None
    if refused:
        # One interval must refill before the next request fits: at full_at - capacity + 1.
        free_at = full_at_us - (limit - 1) * interval
        retry_after = max(1, _seconds_up(free_at - now_us))
    return Budget(limit=limit, remaining=remaining, full_at=from_us(full_at_us), retry_after=retry_after)


@dataclass
class _Lease:
    """What this replica holds of one bucket."""

    limit: int
    full_at_us: int = 0
    """The shared bucket's ``full_at`` after this replica's last lease: every replica's leases."""
    left: int = 0
    """Requests leased and not admitted yet."""
    expires_us: int = 0
    """Unused requests of the lease are spent from then on (its block has refilled)."""


class RateLimitStore:
    """Synchronous (SQLAlchemy Core); callers on the event loop run it in a thread."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or get_clock()
        self._next_prune: datetime | None = None
        self._leases: dict[int, _Lease] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, bucket_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(bucket_id, threading.Lock())

    def hit(self, bucket_id: int, limit: int) -> Budget:
        """Count one request of ``bucket_id`` (a :func:`rate_limit_bucket`) and return its budget after it."""
        now = self._clock.now()
        self.prune_if_due(now)
        now_us = to_us(now)
        interval = interval_us(limit)
        with self._lock(bucket_id):
            lease = self._leases.get(bucket_id)
            if lease is None or lease.limit != limit:
                lease = self._leases[bucket_id] = _Lease(limit=limit)
            if lease.left and now_us >= lease.expires_us:
                lease.left = 0
            empty_until = lease.full_at_us - (limit - 1) * interval
            if lease.left == 0 and now_us >= empty_until:
                block = lease_size(limit)
                lease.full_at_us, lease.left = self._take(bucket_id, limit, block, now_us)
                lease.expires_us = now_us + lease.left * interval
            if lease.left == 0:
                return bucket_budget(limit, lease.full_at_us, now_us, refused=True)
            lease.left -= 1
            used_until = lease.full_at_us - lease.left * interval
        return bucket_budget(limit, used_until, now_us)

    def _take(self, bucket_id: int, limit: int, block: int, now_us: int) -> tuple[int, int]:
        """Lease up to ``block`` requests of the shared bucket: its ``full_at`` after, and how many."""
        interval = interval_us(limit)
        now = from_us(now_us).replace(tzinfo=None)
        lock_row = (
            mysql.insert(rate_limit_buckets)
            .values(bucket_id=bucket_id, full_at=now)
            .on_duplicate_key_update(full_at=rate_limit_buckets.c.full_at)
        )
        read = (
            sa.select(rate_limit_buckets.c.full_at).where(rate_limit_buckets.c.bucket_id == bucket_id).with_for_update()
        )
        for attempt in range(_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    conn.execute(lock_row)
                    full_at_us = max(to_us(conn.execute(read).scalar_one()), now_us)
                    granted = min(block, (now_us + limit * interval - full_at_us) // interval)
                    if granted <= 0:
                        return full_at_us, 0
                    full_at_us += granted * interval
                    conn.execute(
                        rate_limit_buckets.update()
                        .where(rate_limit_buckets.c.bucket_id == bucket_id)
                        .values(full_at=from_us(full_at_us).replace(tzinfo=None))
                    )
                    return full_at_us, granted
            except sa_exc.OperationalError as exc:
                if _error_code(exc) not in _DEADLOCK_ERRORS or attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def prune_if_due(self, now: datetime) -> int:
        if self._next_prune is not None and now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_INTERVAL
        now_us = to_us(now)
        with self._guard:
            for key in [k for k, lease in self._leases.items() if lease.full_at_us <= now_us]:
                del self._leases[key]
        return self.prune(now)

    def prune(self, now: datetime) -> int:
        """Delete up to one batch of buckets that are full again (the same as no row).

        Best effort: when it meets a lease's row lock in a deadlock it gives way (the lease
        goes on) and the next prune deletes what this one did not."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    rate_limit_buckets.delete()
                    .where(rate_limit_buckets.c.full_at <= as_utc(now).replace(tzinfo=None))
                    .with_dialect_options(mysql_limit=PRUNE_BATCH)
                )
        except sa_exc.OperationalError as exc:
            if _error_code(exc) in _DEADLOCK_ERRORS:
                return 0
            raise
        return int(result.rowcount)


def _error_code(exc: sa_exc.OperationalError) -> object:
    return exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
