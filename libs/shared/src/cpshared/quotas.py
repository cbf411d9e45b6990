"""Identity's quotas over gRPC, for a service's synchronous use cases: one unit of a tenant's
``resource_type`` quota reserved (atomic, idempotent by reservation key) or released, as the
calling service (identity lets only services reserve and release)."""

from __future__ import annotations

from enum import StrEnum

import grpc
from grpc import aio

from cloudplatform.identity.v1 import identity_service_pb2 as ipb
from cloudplatform.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from cpshared.errors import LimitExceeded, PreconditionFailed, Unavailable
from cpshared.grpc.service_client import ServiceChannel


class QuotaResourceType(StrEnum):
    """What a quota can be set for: the resource types the services reserve (``server`` by
    compute, ``volume`` and ``volume_gb`` by storage, ``floating_ip``, ``network`` and
    ``firewall`` by network; load balancers, primary IPs and snapshots as they come). Staff set
    limits only for these (identity refuses any other name); a service reserving a new type
    adds it here."""

    SERVER = "server"
    VOLUME = "volume"
    VOLUME_GB = "volume_gb"
    FLOATING_IP = "floating_ip"
    NETWORK = "network"
    FIREWALL = "firewall"
    LOAD_BALANCER = "load_balancer"
    PRIMARY_IP = "primary_ip"
    SNAPSHOT = "snapshot"


class IdentityQuotas:
    def __init__(self, address: str, service_key_file: str, *, service: str, resource_type: str) -> None:
        self.resource_type = resource_type
        self._identity = ServiceChannel(address, service_key_file, caller=service, callee="identity")

    def reserve(
        self,
        reservation_key: str,
        user_id: int,
        organization_id: int | None,
        *,
        resource_type: str | None = None,
        amount: int = 1,
    ) -> None:
        """``amount`` units (one by default) of the tenant's ``resource_type`` quota (the client's
        own by default), idempotent by key; LimitExceeded when used up."""
        kind = resource_type or self.resource_type
        owner: dict[str, int] = {"organization_id": organization_id} if organization_id else {"user_id": user_id}
        request = ipb.ReserveQuotaRequest(reservation_key=reservation_key, resource_type=kind, amount=amount, **owner)
        try:
            self._identity.call(lambda ch, md: ipb_grpc.IdentityServiceStub(ch).ReserveQuota(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                detail = (exc.details() or "").partition(": ")[2] or f"the {kind} quota is used up"
                raise LimitExceeded(detail) from None
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:  # the account is suspended
                raise PreconditionFailed(exc.details() or "the account is suspended") from None
            raise Unavailable(
                f"identity could not reserve the {kind} quota: {exc.code().name} {exc.details()}"
            ) from None

    def release(self, reservation_key: str) -> None:
        """Give the unit back; releasing again (or a key never reserved) is no error."""
        request = ipb.ReleaseQuotaRequest(reservation_key=reservation_key)
        try:
            self._identity.call(lambda ch, md: ipb_grpc.IdentityServiceStub(ch).ReleaseQuota(request, metadata=md))
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise Unavailable(
                f"identity could not release the {self.resource_type} quota: {exc.code().name} {exc.details()}"
            ) from None

    def close(self) -> None:
        self._identity.close()
