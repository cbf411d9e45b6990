"""Expensive blocking work (password hashing) on a pool of its own, with a bounded queue that
sheds load before the caller's deadline passes.

A flood of such calls must not take every worker thread of a service (``asyncio.to_thread``'s
default pool serves all its other calls too) nor wait in a queue until the callers time out
(a 504 at the gateway): :class:`BoundedPool` runs at most ``workers`` calls at once on its own
threads and lets at most ``waiting`` more wait. A call is refused at once with
:class:`cpshared.errors.RateLimited` (a gRPC RESOURCE_EXHAUSTED, 429 with Retry-After at the
gateway) when the pool is full, or when the time it would wait for a thread plus the time a
call takes (a moving average of the recent ones) does not fit in what is left of its deadline;
and a call whose deadline got too near while it waited is refused when its turn comes instead
of being started. So under any load a caller hears "retry later" in time, never a timeout.
The count is kept on the event loop's thread, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, Protocol, TypeVar

from prometheus_client import Counter, Gauge

from cpshared.errors import RateLimited

Param = ParamSpec("Param")
Answer = TypeVar("Answer")

BOUNDED_POOL_BUSY = Gauge("bounded_pool_busy", "Calls running or waiting in a bounded pool", ["pool"])
BOUNDED_POOL_SHED = Counter("bounded_pool_shed_total", "Calls a bounded pool refused (full or too late)", ["pool"])
MARGIN_SECONDS = 0.1
"""Kept free of a caller's deadline for the answer's way back."""
SMOOTHING = 0.2
"""Weight of the latest call in the moving average of a call's duration."""


class HasDeadline(Protocol):
    def time_remaining(self) -> float | None: ...


def time_left(context: HasDeadline) -> float | None:
    """What is left of a gRPC call's deadline (``context.time_remaining()``) for the work, less
    the answer's way back; None when the caller set no deadline."""
    remaining = context.time_remaining()
    return None if remaining is None else max(0.0, remaining - MARGIN_SECONDS)


class BoundedPool:
    def __init__(
        self, name: str, *, workers: int, waiting: int, busy_message: str, first_estimate: float = 0.25
    ) -> None:
        if workers < 1 or waiting < 0:
            raise ValueError("a bounded pool needs at least one worker and a non-negative queue")
        self.name = name
        self.workers = workers
        self.capacity = workers + waiting
        self.busy_message = busy_message
        self.call_seconds = first_estimate
        """The moving average of a call's duration on a thread."""
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._admitted = 0
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}
        """When each call running on a thread started, by thread."""

    @property
    def admitted(self) -> int:
        return self._admitted

    def _refuse(self, expected: float) -> RateLimited:
        BOUNDED_POOL_SHED.labels(self.name).inc()
        return RateLimited(self.busy_message, retry_after=max(1, math.ceil(expected)))

    async def run(
        self, time_left: float | None, call: Callable[Param, Answer], *args: Param.args, **kwargs: Param.kwargs
    ) -> Answer:
        """``call(*args, **kwargs)`` on the pool's threads, with the caller's context variables;
        RateLimited at once when the pool is full or the call cannot end within ``time_left``
        seconds (what is left of the caller's deadline, :func:`time_left`; None: no deadline)."""
        rounds = self._admitted // self.workers + 1
        expected = rounds * self.call_seconds
        if self._admitted >= self.capacity or (time_left is not None and expected > time_left):
            raise self._refuse(expected)
        must_start_by = None if time_left is None else time.monotonic() + time_left - self.call_seconds
        context = contextvars.copy_context()
        durations: list[float] = []

        def guarded() -> Answer:
            started = time.monotonic()
            # The calls running now tell how long one takes before any has ended (a load spike).
            with self._lock:
                longest = max((started - since for since in self._running.values()), default=0.0)
                if must_start_by is not None and started + max(0.0, longest - self.call_seconds) > must_start_by:
                    raise self._refuse(max(self.call_seconds, longest))
                self._running[threading.get_ident()] = started
            try:
                return context.run(call, *args, **kwargs)
            finally:
                with self._lock:
                    del self._running[threading.get_ident()]
                # A refusal (a wrong password) costs the same work as a success: both count.
                durations.append(time.monotonic() - started)

        self._admitted += 1
        BOUNDED_POOL_BUSY.labels(self.name).set(self._admitted)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)
        finally:
            self._admitted -= 1
            BOUNDED_POOL_BUSY.labels(self.name).set(self._admitted)
            for took in durations:
                self.call_seconds += SMOOTHING * (took - self.call_seconds)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
