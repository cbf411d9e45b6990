"""The gateway's credential throttle on a manual clock: per address, overall, in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cpshared.clock import ManualClock
from cpshared.errors import RateLimited
from gateway_service.rate_limit.credentials import CredentialThrottle


def throttle(clock: ManualClock, **overrides: float) -> CredentialThrottle:
    settings: dict[str, float] = {
        "address_burst": 3,
        "address_per_minute": 6,
        "global_burst": 5,
        "global_per_second": 1,
        "concurrency": 2,
    } | overrides
    return CredentialThrottle(clock=clock, **settings)  # type: ignore[arg-type]


def test_an_address_has_a_burst_then_waits_for_its_refill_and_others_are_not_held() -> None:
    clock = ManualClock()
    guard = throttle(clock)
    for _ in range(3):
        guard.admit("203.0.113.1")
    with pytest.raises(RateLimited) as refused:
        guard.admit("203.0.113.1")
    assert refused.value.retry_after == 10  # 6 a minute
    guard.admit("203.0.113.2")
    clock.advance(timedelta(seconds=10))
    guard.admit("203.0.113.1")


def test_the_overall_budget_holds_whatever_the_addresses() -> None:
    clock = ManualClock()
    guard = throttle(clock)
    for n in range(5):
        guard.admit(f"10.0.0.{n}")
    with pytest.raises(RateLimited, match="too many sign-in and credential requests right now"):
        guard.admit("10.0.0.99")
    clock.advance(timedelta(seconds=1))
    guard.admit("10.0.0.99")


def test_calls_in_flight_are_capped_and_released() -> None:
    guard = throttle(ManualClock())
    guard.acquire()
    guard.acquire()
    with pytest.raises(RateLimited) as refused:
        guard.acquire()
    assert refused.value.retry_after == 1
    guard.release()
    guard.acquire()


def test_failed_authentications_of_an_address_are_counted_and_then_refused_before_asking() -> None:
    clock = ManualClock()
    guard = throttle(clock)
    for _ in range(3):
        guard.refuse_failing("203.0.113.9")
        guard.failed("203.0.113.9")
    with pytest.raises(RateLimited, match="not valid"):
        guard.refuse_failing("203.0.113.9")
    guard.refuse_failing("203.0.113.10")
