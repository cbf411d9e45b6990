"""IdentityService's RPCs of quota reservations."""

from __future__ import annotations

import asyncio

from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.errors import InvalidInput
from identity_service.adapters.authorization import require_service
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner
from identity_service.entrypoints.grpc_identity_base import IdentityRpcs
from identity_service.entrypoints.grpc_messages import Context, quota_message, reservation_message
from identity_service.service_layer import quotas


class QuotaRpcs(IdentityRpcs):
    async def ReserveQuota(self, request: pb.ReserveQuotaRequest, context: Context) -> pb.ReserveQuotaResponse:  # noqa: N802
        require_service("ReserveQuota")
        owner_field = request.WhichOneof("owner")
        if owner_field is None:
            raise InvalidInput("name the quota's owner: user_id or organization_id")
        owner = (
            QuotaOwner(user_id=request.user_id)
            if owner_field == "user_id"
            else QuotaOwner(organization_id=request.organization_id)
        )
        cmd = commands.ReserveQuota(
            reservation_key=request.reservation_key,
            owner=owner,
            resource_type=request.resource_type,
            amount=request.amount,
        )
        reservation, quota = await asyncio.to_thread(quotas.reserve_quota, cmd, self._identity.uow)
        return pb.ReserveQuotaResponse(reservation=reservation_message(reservation), quota=quota_message(quota))

    async def ReleaseQuota(self, request: pb.ReleaseQuotaRequest, context: Context) -> pb.ReleaseQuotaResponse:  # noqa: N802
        require_service("ReleaseQuota")
        reservation, quota = await asyncio.to_thread(quotas.release_quota, request.reservation_key, self._identity.uow)
        return pb.ReleaseQuotaResponse(reservation=reservation_message(reservation), quota=quota_message(quota))
