"""The throttle in front of every credential endpoint: sign-up, verification, sign-in, refresh,
password change, two-factor codes, and API keys that fail to authenticate.

Credential checks are the expensive calls of the platform (identity hashes each password with
argon2id, 64 MiB and ~0.1 s of a core) and the ones an attacker repeats, so the gateway refuses
them with ``429 rate_limit_exceeded`` and ``Retry-After`` before identity is saturated:

- **per client address** (the peer, or the ``X-Forwarded-For`` address a configured proxy
  gave, ``CP_TRUSTED_PROXIES``): a token bucket of ``credential_address_burst`` requests,
  refilled at ``credential_address_per_minute``; API keys that fail to authenticate take from a
  bucket of their own per address, and an address whose bucket is empty gets 429 for unknown
  keys without identity being asked (keys it already holds keep working from the cache);
- **globally**: a bucket of ``credential_global_burst`` refilled at
  ``credential_global_per_second``, and at most ``credential_concurrency`` credential calls in
  flight to identity at once; one more is refused at once, never queued until it times out.

Identity bounds its own password work too (``cpshared.bounded_pool``): whatever gets past
the gateway is refused there with a 429 rather than answered with a 504.

The buckets live in this replica's memory (they guard its own calls to identity); with ``n``
replicas an address gets ``n`` times the budget. Identity's per-(account, address) failure
count is the shared, exact one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import Request

from cpshared.clock import Clock, get_clock
from cpshared.errors import RateLimited

MAX_ADDRESSES = 100_000
"""Buckets kept per kind; the least recently used go first (a full bucket is the same as none)."""

TOO_MANY_FROM_ADDRESS = "too many sign-in and credential requests from your address"
TOO_MANY_KEY_FAILURES = "too many requests with API keys or tokens that are not valid from your address"
TOO_MANY_OVERALL = "the platform is answering too many sign-in and credential requests right now"


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets by key: ``burst`` requests, refilled at ``rate`` per second."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float]) -> None:
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > MAX_ADDRESSES:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + max(0.0, now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: str) -> int | None:
        """Seconds until ``key`` has a request again; None while it has one (nothing is taken)."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1:
            return None
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def take(self, key: str) -> int | None:
        """Take one request of ``key``; the seconds to wait instead when it has none."""
        wait = self.wait(key)
        if wait is None:
            self._buckets[key].tokens -= 1
        return wait


class CredentialThrottle:
    def __init__(
        self,
        *,
        address_burst: int,
        address_per_minute: float,
        global_burst: int,
        global_per_second: float,
        concurrency: int,
        clock: Clock | None = None,
    ) -> None:
        source = clock or get_clock()

        def seconds() -> float:
            return source.now().timestamp()

        self.addresses = TokenBuckets(address_burst, address_per_minute / 60, seconds)
        self.key_failures = TokenBuckets(address_burst, address_per_minute / 60, seconds)
        self.overall = TokenBuckets(global_burst, global_per_second, seconds)
        self.concurrency = concurrency
        self.in_flight = 0

    def admit(self, address: str) -> None:
        """One credential request of ``address``; RateLimited when it or the platform is over budget."""
        wait = self.addresses.take(address)
        if wait is not None:
            raise RateLimited(TOO_MANY_FROM_ADDRESS, retry_after=wait)
        wait = self.overall.take("")
        if wait is not None:
            raise RateLimited(TOO_MANY_OVERALL, retry_after=wait)

    def refuse_failing(self, address: str) -> None:
        """Before identity is asked about a token the cache does not know: RateLimited while
        ``address`` has spent its budget of failed authentications."""
        wait = self.key_failures.wait(address)
        if wait is not None:
            raise RateLimited(TOO_MANY_KEY_FAILURES, retry_after=wait)

    def failed(self, address: str) -> None:
        """A token of ``address`` failed to authenticate."""
        self.key_failures.take(address)

    def acquire(self) -> None:
        """One of the ``concurrency`` credential calls in flight; RateLimited at once when all are
        taken. (Called on the event loop's thread only, so the count needs no lock.)"""
        if self.in_flight >= self.concurrency:
            raise RateLimited(TOO_MANY_OVERALL, retry_after=1)
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1


THROTTLE_STATE = "credential_throttle"


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or what a trusted proxy forwarded (uvicorn applied it)."""
    return request.client.host if request.client else ""


async def credential_throttle(request: Request) -> AsyncIterator[None]:
    """The dependency of every credential route: admitted by address and overall, and holding one
    of the in-flight slots while the route runs."""
    throttle: CredentialThrottle = getattr(request.app.state, THROTTLE_STATE)
    throttle.admit(client_address(request))
    throttle.acquire()
    try:
        yield
    finally:
        throttle.release()
