"""Several long-running loops of different services in one process: the local stack's relay
host (``relay_main --all``) and consumer host (``consumer_main --all``).

Each loop gets its own engine on its own service's database and is started again with
backoff whenever it fails, while the others go on; a signal stops them all gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from prometheus_client import Counter
from sqlalchemy.engine import Engine

from cpshared.db import make_engine, wait_for_database
from cpshared.events.relay import Backoff
from cpshared.logging import get_logger

log = get_logger(__name__)

Loop = Callable[[Engine, asyncio.Event], Awaitable[None]]
"""One run of a hosted loop on its engine until the stop event is set; raising means it failed."""


async def supervise(
    kind: str,
    name: str,
    database_url: str,
    loop: Loop,
    stop: asyncio.Event,
    *,
    pool_size: int,
    restart_cap: float,
    restarts: Counter,
) -> None:
    """Run ``loop`` (the ``kind`` named ``name``) until ``stop``, starting it again with backoff whenever it fails."""
    backoff = Backoff(base=1.0, cap=restart_cap)
    while not stop.is_set():
        engine = make_engine(database_url, pool_size=pool_size)
        try:
            await asyncio.to_thread(wait_for_database, engine, timeout=10.0)
            await loop(engine, stop)
            backoff.reset()
        except (Exception, SystemExit) as exc:
            restarts.labels(name).inc()
            delay = backoff.next_delay()
            log.error(f"{kind}_failed", **{kind: name}, error=repr(exc)[:300], restart_in=round(delay, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        finally:
            await asyncio.to_thread(engine.dispose)


async def serve_all(kind: str, supervised: Mapping[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]]) -> None:
    """Every supervised loop as a task of its own until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)
    await asyncio.gather(
        *(asyncio.create_task(run(stop), name=f"{kind}-{name}") for name, run in sorted(supervised.items()))
    )
