"""Expensive blocking work (password hashing) on a pool of its own, with a bounded queue.

A flood of such calls must not take every worker thread of a service (``asyncio.to_thread``'s
default pool serves all its other calls too) nor wait in an unbounded queue until callers
time out: :class:`BoundedPool` runs at most ``workers`` calls at once on its own threads, lets
at most ``waiting`` more wait, and refuses the next at once with
:class:`cpshared.errors.RateLimited` (a gRPC RESOURCE_EXHAUSTED, a 429 with Retry-After at the
gateway). The count is kept on the event loop's thread, so it needs no lock.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from prometheus_client import Gauge

from cpshared.errors import RateLimited

Param = ParamSpec("Param")
Answer = TypeVar("Answer")

BOUNDED_POOL_BUSY = Gauge("bounded_pool_busy", "Calls running or waiting in a bounded pool", ["pool"])


class BoundedPool:
    def __init__(self, name: str, *, workers: int, waiting: int, busy_message: str) -> None:
        if workers < 1 or waiting < 0:
            raise ValueError("a bounded pool needs at least one worker and a non-negative queue")
        self.name = name
        self.capacity = workers + waiting
        self.busy_message = busy_message
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._admitted = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, call: Callable[Param, Answer], *args: Param.args, **kwargs: Param.kwargs) -> Answer:
        """``call(*args, **kwargs)`` on the pool's threads, with the caller's context variables;
        RateLimited at once when ``workers + waiting`` calls are in already."""
        if self._admitted >= self.capacity:
            raise RateLimited(self.busy_message, retry_after=1)
        self._admitted += 1
        BOUNDED_POOL_BUSY.labels(self.name).set(self._admitted)
        try:
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(context.run, call, *args, **kwargs))
        finally:
            self._admitted -= 1
            BOUNDED_POOL_BUSY.labels(self.name).set(self._admitted)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
