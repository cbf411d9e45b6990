"""Identity's quotas over gRPC, called as the storage service itself (identity lets only
services reserve and release): a ``volume`` per volume and its ``volume_gb``."""

from __future__ import annotations

import grpc
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from cpshared.errors import LimitExceeded, Unavailable
from cpshared.grpc.blocking import BlockingChannel
from storage_service import SERVICE_NAME
from storage_service.service_layer.ports import Quotas


class IdentityQuotas(Quotas):
    def __init__(self, address: str, service_key_file: str) -> None:
        self._channel = BlockingChannel(address, caller=SERVICE_NAME, service_key_file=service_key_file)
        self._stub = ipb_grpc.IdentityServiceStub(self._channel.channel)

    def reserve(
        self, reservation_key: str, resource_type: str, amount: int, user_id: int, organization_id: int | None
    ) -> None:
        owner: dict[str, int] = {"organization_id": organization_id} if organization_id else {"user_id": user_id}
        request = ipb.ReserveQuotaRequest(
            reservation_key=reservation_key, resource_type=resource_type, amount=amount, **owner
        )
        try:
            self._channel.call(lambda: self._stub.ReserveQuota(request))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                detail = (exc.details() or "").partition(": ")[2] or f"the {resource_type} quota is used up"
                raise LimitExceeded(detail) from None
            raise Unavailable(
                f"identity could not reserve the {resource_type} quota: {exc.code().name} {exc.details()}"
            ) from None

    def release(self, reservation_key: str) -> None:
        try:
            self._channel.call(
                lambda: self._stub.ReleaseQuota(ipb.ReleaseQuotaRequest(reservation_key=reservation_key))
            )
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise Unavailable(f"identity could not release a volume quota: {exc.code().name} {exc.details()}") from None

    def close(self) -> None:
        self._channel.close()
