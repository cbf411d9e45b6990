"""cpshared.bounded_pool: at most ``workers`` calls on its threads and ``waiting`` more; past that,
or when a call could not end before its deadline, RateLimited at once instead of a timeout."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cpshared.bounded_pool import BoundedPool, time_left
from cpshared.errors import RateLimited


def pool(workers: int = 1, waiting: int = 1, estimate: float = 0.05) -> BoundedPool:
    return BoundedPool("test", workers=workers, waiting=waiting, busy_message="busy", first_estimate=estimate)


async def test_a_full_pool_refuses_at_once_with_retry_after() -> None:
    gate = threading.Event()
    bounded = pool(workers=1, waiting=1)
    held = [asyncio.create_task(bounded.run(None, gate.wait, 5)) for _ in range(2)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    with pytest.raises(RateLimited) as refused:
        await bounded.run(None, lambda: "never")
    assert time.perf_counter() - started < 0.05
    assert refused.value.retry_after >= 1 and refused.value.message.startswith("busy")
    gate.set()
    assert await asyncio.gather(*held) == [True, True]
    assert bounded.admitted == 0
    bounded.close()


async def test_a_call_that_would_wait_past_its_deadline_is_refused_before_it_runs() -> None:
    bounded = pool(workers=1, waiting=10, estimate=0.3)
    ran: list[int] = []
    slow = asyncio.create_task(bounded.run(None, time.sleep, 0.3))
    await asyncio.sleep(0.01)
    # One call ahead of it at ~0.3 s each: 0.6 s expected, 0.4 s left.
    with pytest.raises(RateLimited):
        await bounded.run(0.4, ran.append, 1)
    await bounded.run(2.0, ran.append, 2)
    await slow
    assert ran == [2]
    bounded.close()


async def test_the_estimate_follows_the_calls_and_context_variables_reach_the_thread() -> None:
    bounded = pool(estimate=1.0)
    for _ in range(20):
        await bounded.run(None, time.sleep, 0.001)
    assert bounded.call_seconds < 0.1
    with pytest.raises(ValueError, match="boom"):
        await bounded.run(None, int, "boom")
    bounded.close()


def test_time_left_keeps_a_margin_and_none_means_no_deadline() -> None:
    class Context:
        def __init__(self, remaining: float | None) -> None:
            self.remaining = remaining

        def time_remaining(self) -> float | None:
            return self.remaining

    assert time_left(Context(None)) is None
    assert time_left(Context(2.0)) == pytest.approx(1.9)
    assert time_left(Context(0.05)) == 0.0


def test_rate_limited_carries_its_seconds_through_a_message() -> None:
    error = RateLimited("too many", retry_after=30)
    assert error.message == "too many: retry after 30 s" and error.details == {"retry_after": 30}
    again = RateLimited.from_message(error.message)
    assert (again.message, again.retry_after) == (error.message, 30)
    assert RateLimited.from_message("no seconds here").retry_after == 1
