"""Identity's quotas over gRPC, for compute's synchronous use cases.

Calls carry compute's own service principal (identity lets only services reserve and
release), never the user's being served, on a :class:`~cpshared.grpc.blocking.BlockingChannel`
(the use cases run on worker threads of the gRPC server, or in the provisioning worker).
"""

from __future__ import annotations

import grpc
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from compute_service import SERVICE_NAME
from compute_service.service_layer.ports import Quotas
from cpshared.errors import LimitExceeded, PreconditionFailed, Unavailable
from cpshared.grpc.blocking import BlockingChannel

RESOURCE_TYPE = "server"
CALL_TIMEOUT = 10.0


class IdentityQuotas(Quotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        if not address:
            raise Unavailable("compute cannot reach identity: set CP_IDENTITY_GRPC_ADDR")
        self._client = BlockingChannel(
            address, caller=SERVICE_NAME, service_key_file=service_key_file, timeout=CALL_TIMEOUT
        )
        self._stub = ipb_grpc.IdentityServiceStub(self._client.channel)

    def reserve(self, reservation_key: str, user_id: int, organization_id: int | None) -> None:
        owner: dict[str, int] = {"organization_id": organization_id} if organization_id else {"user_id": user_id}
        request = ipb.ReserveQuotaRequest(
            reservation_key=reservation_key, resource_type=RESOURCE_TYPE, amount=1, **owner
        )
        try:
            self._client.call(lambda: self._stub.ReserveQuota(request))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                detail = (exc.details() or "").partition(": ")[2] or "the server quota is used up"
                raise LimitExceeded(detail) from None
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:  # the account is suspended
                raise PreconditionFailed(exc.details() or "the account is suspended") from None
            raise Unavailable(
                f"identity could not reserve the server quota: {exc.code().name} {exc.details()}"
            ) from None

    def release(self, reservation_key: str) -> None:
        try:
            self._client.call(lambda: self._stub.ReleaseQuota(ipb.ReleaseQuotaRequest(reservation_key=reservation_key)))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise Unavailable(
                f"identity could not release the server quota: {exc.code().name} {exc.details()}"
            ) from None

    def close(self) -> None:
        self._client.close()
