"""A channel to another service for synchronous callers: use cases run on the gRPC server's
worker threads and in workers' threads, while grpc's asyncio channel needs an event loop. The
channel lives on an event loop of its own in a background thread; :meth:`BlockingChannel.call`
runs one call there and waits for its answer.

Calls carry the calling service's own signed service principal (never the user's being
served): the callee lets services do what users may not (reserve quotas, read price plans
outside a request).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from grpc import aio

from cpshared.auth.principal import load_private_key
from cpshared.context import principal_var
from cpshared.errors import Unavailable
from cpshared.grpc.client import make_channel

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class BlockingChannel:
    """``caller``'s channel to ``target`` (host:port), signed with ``service_key_file``."""

    def __init__(self, target: str, *, caller: str, service_key_file: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not target:
            raise Unavailable(f"{caller} has no address for the service it calls")
        if not service_key_file:
            raise Unavailable(f"{caller} has no service key: set CP_PRINCIPAL_SERVICE_KEY_FILE")
        key = load_private_key(Path(service_key_file))
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{caller}-client", daemon=True)
        self._thread.start()
        self.channel: aio.Channel = self._run(self._open(target, caller, key, timeout))

    @staticmethod
    async def _open(target: str, caller: str, key: Any, deadline: float) -> aio.Channel:
        return make_channel(target, caller=caller, deadline=deadline, service_key=key)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout + 5)

    def call(self, invoke: Callable[[], Awaitable[T]]) -> T:
        """Run ``invoke`` (e.g. ``lambda: stub.Method(request)``) on the channel's loop; its answer.
        grpc's ``AioRpcError`` is the caller's to translate."""

        async def run() -> T:
            # The task runs in a copy of the caller's context: drop the user's principal there, so
            # the call carries this service's own (the channel's interceptor signs it).
            principal_var.set(None)
            return await invoke()

        return self._run(run())

    def close(self) -> None:
        self._run(self.channel.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
