"""Identity's quotas over gRPC, for compute's synchronous use cases.

Calls carry compute's own service principal (identity lets only services reserve and
release), never the user's being served. The gRPC channel lives on an event loop of its own
in a background thread, so the use cases — on worker threads of the gRPC server, or in the
provisioning worker — call it synchronously.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from compute_service import SERVICE_NAME
from compute_service.service_layer.ports import Quotas
from cpshared.auth.principal import ServiceAssertion, load_private_key
from cpshared.context import PRINCIPAL_HEADER
from cpshared.errors import LimitExceeded, Unavailable
from cpshared.grpc.client import make_channel

T = TypeVar("T")
RESOURCE_TYPE = "server"
CALL_TIMEOUT = 10.0


class IdentityQuotas(Quotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        if not address:
            raise Unavailable("compute cannot reach identity: set CP_IDENTITY_GRPC_ADDR")
        if not service_key_file:
            raise Unavailable("compute has no service key: set CP_PRINCIPAL_SERVICE_KEY_FILE")
        self._assertion = ServiceAssertion(SERVICE_NAME, load_private_key(Path(service_key_file)))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="identity-client", daemon=True)
        self._thread.start()
        self._channel: aio.Channel = self._run(self._open(address))
        self._stub = ipb_grpc.IdentityServiceStub(self._channel)

    async def _open(self, address: str) -> aio.Channel:
        return make_channel(address, caller=SERVICE_NAME, deadline=CALL_TIMEOUT)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT + 5)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return ((PRINCIPAL_HEADER, self._assertion.token()),)

    async def _reserve(self, request: ipb.ReserveQuotaRequest) -> ipb.ReserveQuotaResponse:
        return await self._stub.ReserveQuota(request, metadata=self._metadata())

    async def _release(self, request: ipb.ReleaseQuotaRequest) -> ipb.ReleaseQuotaResponse:
        return await self._stub.ReleaseQuota(request, metadata=self._metadata())

    def reserve(self, reservation_key: str, user_id: int, organization_id: int | None) -> None:
        owner: dict[str, int] = {"organization_id": organization_id} if organization_id else {"user_id": user_id}
        request = ipb.ReserveQuotaRequest(
            reservation_key=reservation_key, resource_type=RESOURCE_TYPE, amount=1, **owner
        )
        try:
            self._run(self._reserve(request))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                detail = (exc.details() or "").partition(": ")[2] or "the server quota is used up"
                raise LimitExceeded(detail) from None
            raise Unavailable(
                f"identity could not reserve the server quota: {exc.code().name} {exc.details()}"
            ) from None

    def release(self, reservation_key: str) -> None:
        try:
            self._run(self._release(ipb.ReleaseQuotaRequest(reservation_key=reservation_key)))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise Unavailable(
                f"identity could not release the server quota: {exc.code().name} {exc.details()}"
            ) from None

    def close(self) -> None:
        self._run(self._channel.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
