"""Rate-limit budgets leased in blocks: two replicas (two stores on one database) never admit
more than the limit, and each writes the shared row once per block, not once per request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from cpshared.clock import ManualClock
from gateway_service.rate_limit.store import RateLimitStore, lease_size, rate_limit_counters


def shared_count(engine: sa.Engine, api_key_id: int) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.sum(rate_limit_counters.c.request_count)).where(
            rate_limit_counters.c.api_key_id == api_key_id
        )
        return int(conn.execute(query).scalar_one() or 0)


def test_a_lease_is_one_percent_of_the_budget_between_1_and_100() -> None:
    assert [lease_size(n) for n in (1, 5, 199, 200, 1000, 10_000, 1_000_000)] == [1, 1, 1, 2, 10, 100, 100]


def test_a_large_budget_is_written_once_per_block_and_remaining_counts_every_replicas_leases(
    engine: sa.Engine, clock: ManualClock
) -> None:
    first, second = RateLimitStore(engine, clock=clock), RateLimitStore(engine, clock=clock)
    budgets = [first.hit(7001, 1000) for _ in range(25)]
    assert shared_count(engine, 7001) == 30  # three blocks of 10
    assert [b.remaining for b in budgets[:3]] == [999, 998, 997]
    assert budgets[-1].remaining == 1000 - 30 + 5  # the shared count less first's unused lease
    assert second.hit(7001, 1000).remaining == 1000 - 40 + 9
    assert shared_count(engine, 7001) == 40


def test_two_replicas_hammering_one_key_admit_exactly_the_limit(engine: sa.Engine, clock: ManualClock) -> None:
    stores = [RateLimitStore(engine, clock=clock), RateLimitStore(engine, clock=clock)]
    limit = 300  # blocks of 3

    def hit(i: int) -> bool:
        return not stores[i % 2].hit(7002, limit).exceeded

    with ThreadPoolExecutor(max_workers=16) as pool:
        admitted = sum(pool.map(hit, range(400)))
    # Leases no replica can use up are spent: at most one block per replica is lost.
    assert limit - 2 * lease_size(limit) <= admitted <= limit
    # Spent: refused from memory from now on, without another write.
    before = shared_count(engine, 7002)
    assert all(stores[i % 2].hit(7002, limit).exceeded for i in range(10))
    assert shared_count(engine, 7002) == before


def test_the_next_window_starts_a_fresh_budget(engine: sa.Engine, clock: ManualClock) -> None:
    store = RateLimitStore(engine, clock=clock)
    for _ in range(3):
        store.hit(7003, 3)
    assert store.hit(7003, 3).exceeded
    clock.advance(timedelta(hours=1))
    assert store.hit(7003, 3).remaining == 2
