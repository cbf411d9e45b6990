"""A gRPC channel to another service for synchronous code (use cases on worker threads, a
service's worker process), calling as the service itself.

The aio channel lives on an event loop of its own in a background thread; :meth:`call` runs one
unary RPC there and waits for it. Every call carries the calling service's principal (a
:class:`~cpshared.auth.principal.ServiceAssertion` signed with its own key), never the user's
being served: the called service decides what a service may do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from grpc import aio

from cpshared.auth.principal import ServiceAssertion, load_private_key
from cpshared.context import PRINCIPAL_HEADER
from cpshared.errors import Unavailable
from cpshared.grpc.client import make_channel

T = TypeVar("T")
CALL_TIMEOUT = 10.0


class ServiceChannel:
    """``caller``'s channel to ``address``; ``stub(channel)`` builds the stub calls go through."""

    def __init__(self, address: str, service_key_file: str, caller: str, *, callee: str) -> None:
        if not address:
            raise Unavailable(f"{caller} cannot reach {callee}: set CP_{callee.upper()}_GRPC_ADDR")
        if not service_key_file:
            raise Unavailable(f"{caller} has no service key: set CP_PRINCIPAL_SERVICE_KEY_FILE")
        self._assertion = ServiceAssertion(caller, load_private_key(Path(service_key_file)))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{callee}-client", daemon=True)
        self._thread.start()
        self.channel: aio.Channel = self._run(self._open(address, caller))

    async def _open(self, address: str, caller: str) -> aio.Channel:
        return make_channel(address, caller=caller, deadline=CALL_TIMEOUT)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT + 5)

    def call(self, rpc: Callable[..., Awaitable[T]], request: Any) -> T:
        """Run the unary ``rpc`` (a stub's method) with ``request``; raises ``aio.AioRpcError``."""
        metadata = ((PRINCIPAL_HEADER, self._assertion.token()),)

        async def invoke() -> T:
            return await rpc(request, metadata=metadata)

        return self._run(invoke())

    def close(self) -> None:
        self._run(self.channel.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
