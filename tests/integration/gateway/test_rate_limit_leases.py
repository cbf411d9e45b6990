"""Rate-limit token buckets leased in blocks: two replicas (two stores on one database) never
admit more than the bucket holds, each writes the shared row once per block, not once per
request, and the bucket refills continuously on the (manual) clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from cpshared.clock import ManualClock
from gateway_service.rate_limit.store import RateLimitStore, interval_us, lease_size, rate_limit_buckets, to_us


def shared_count(engine: sa.Engine, clock: ManualClock, bucket_id: int, limit: int) -> int:
    """How many requests the shared bucket holds as taken now (every replica's leases)."""
    with engine.connect() as conn:
        full_at = conn.execute(
            sa.select(rate_limit_buckets.c.full_at).where(rate_limit_buckets.c.bucket_id == bucket_id)
        ).scalar_one_or_none()
    if full_at is None:
        return 0
    return max(0, to_us(full_at) - to_us(clock.now())) // interval_us(limit)


def test_a_lease_is_one_percent_of_the_budget_between_1_and_100() -> None:
    assert [lease_size(n) for n in (1, 5, 199, 200, 1000, 10_000, 1_000_000)] == [1, 1, 1, 2, 10, 100, 100]


def test_a_large_budget_is_written_once_per_block_and_remaining_counts_every_replicas_leases(
    engine: sa.Engine, clock: ManualClock
) -> None:
    first, second = RateLimitStore(engine, clock=clock), RateLimitStore(engine, clock=clock)
    budgets = [first.hit(7001, 1000) for _ in range(25)]
    assert shared_count(engine, clock, 7001, 1000) == 30  # three blocks of 10
    assert [b.remaining for b in budgets[:3]] == [999, 998, 997]
    assert budgets[-1].remaining == 1000 - 30 + 5  # the shared bucket less first's unused lease
    assert second.hit(7001, 1000).remaining == 1000 - 40 + 9
    assert shared_count(engine, clock, 7001, 1000) == 40


def test_two_replicas_hammering_one_key_admit_exactly_the_limit(engine: sa.Engine, clock: ManualClock) -> None:
    stores = [RateLimitStore(engine, clock=clock), RateLimitStore(engine, clock=clock)]
    limit = 300  # blocks of 3

    def hit(i: int) -> bool:
        return not stores[i % 2].hit(7002, limit).exceeded

    with ThreadPoolExecutor(max_workers=16) as pool:
        admitted = sum(pool.map(hit, range(400)))
    # Leases no replica can use up are spent: at most one block per replica is lost.
    assert limit - 2 * lease_size(limit) <= admitted <= limit
    # Empty: refused from memory until one request refills, without another write.
    with engine.connect() as conn:
        before = conn.execute(sa.select(rate_limit_buckets.c.full_at)).scalar_one()
    refusals = [stores[i % 2].hit(7002, limit) for i in range(10)]
    assert all(b.exceeded and b.remaining == 0 for b in refusals)
    assert {b.retry_after for b in refusals} == {12}  # 3,600 s / 300
    with engine.connect() as conn:
        assert conn.execute(sa.select(rate_limit_buckets.c.full_at)).scalar_one() == before


def test_the_bucket_refills_one_request_per_interval(engine: sa.Engine, clock: ManualClock) -> None:
    store = RateLimitStore(engine, clock=clock)
    first = store.hit(7003, 3)  # one request every 20 minutes
    assert first.remaining == 2
    assert first.full_at == clock.now() + timedelta(minutes=20)
    store.hit(7003, 3)
    spent = store.hit(7003, 3)
    assert spent.remaining == 0 and not spent.exceeded
    assert spent.full_at == clock.now() + timedelta(hours=1)
    refused = store.hit(7003, 3)
    assert refused.exceeded and refused.retry_after == 20 * 60
    assert refused.full_at == spent.full_at  # a refused request costs nothing

    clock.advance(timedelta(minutes=19, seconds=59))
    assert store.hit(7003, 3).retry_after == 1
    clock.advance(timedelta(seconds=1))
    again = store.hit(7003, 3)  # one refilled, and taken at once
    assert not again.exceeded and again.remaining == 0
    assert store.hit(7003, 3).exceeded

    clock.advance(timedelta(minutes=50))  # two and a half intervals: two requests
    assert [store.hit(7003, 3).remaining for _ in range(2)] == [1, 0]
    assert store.hit(7003, 3).retry_after == 10 * 60

    clock.advance(timedelta(hours=2))  # full again, never more than the capacity
    assert [store.hit(7003, 3).remaining for _ in range(4)][:3] == [2, 1, 0]


def test_hetzners_default_refills_one_request_a_second(engine: sa.Engine, clock: ManualClock) -> None:
    store = RateLimitStore(engine, clock=clock)
    budgets = [store.hit(7004, 3600) for _ in range(3600)]
    assert budgets[0].remaining == 3599 and budgets[-1].remaining == 0
    assert not budgets[-1].exceeded
    assert budgets[-1].full_at == clock.now() + timedelta(hours=1)
    refused = store.hit(7004, 3600)
    assert refused.exceeded and refused.retry_after == 1
    clock.advance(timedelta(seconds=10))
    admitted = [store.hit(7004, 3600) for _ in range(11)]
    assert [b.exceeded for b in admitted] == [False] * 10 + [True]


def test_a_restarted_replica_continues_the_shared_bucket(engine: sa.Engine, clock: ManualClock) -> None:
    first = RateLimitStore(engine, clock=clock)
    for _ in range(4):
        first.hit(7005, 5)
    restarted = RateLimitStore(engine, clock=clock)  # a new process: nothing in memory
    last = restarted.hit(7005, 5)
    assert last.remaining == 0 and not last.exceeded
    assert restarted.hit(7005, 5).exceeded
    assert first.hit(7005, 5).exceeded
    # A restart loses only the lease it held: a large budget's unused block is spent.
    big = RateLimitStore(engine, clock=clock)
    big.hit(7006, 1000)  # leases 10, uses 1
    after_restart = RateLimitStore(engine, clock=clock).hit(7006, 1000)
    assert after_restart.remaining == 1000 - 20 + 9


def test_a_lease_left_unused_expires_when_its_block_has_refilled(engine: sa.Engine, clock: ManualClock) -> None:
    first, second = RateLimitStore(engine, clock=clock), RateLimitStore(engine, clock=clock)
    first.hit(7007, 1000)  # leases 10 (36 s of refill), uses 1
    for _ in range(1000 - 10):
        assert not second.hit(7007, 1000).exceeded
    assert second.hit(7007, 1000).exceeded
    # An hour on, the bucket is full again; first's 9 unused requests are gone, not added.
    clock.advance(timedelta(hours=1))
    admitted = sum(not first.hit(7007, 1000).exceeded for _ in range(1010))
    assert admitted == 1000


def test_buckets_full_again_are_pruned(engine: sa.Engine, clock: ManualClock) -> None:
    store = RateLimitStore(engine, clock=clock)
    store.hit(7008, 60)  # full again in a minute
    store.hit(7009, 6)  # full again in 10 minutes
    clock.advance(timedelta(minutes=2))
    assert store.prune(clock.now()) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(rate_limit_buckets.c.bucket_id)).scalars().all() == [7009]
    assert store.hit(7008, 60).remaining == 59
