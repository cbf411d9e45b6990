"""The TwoFactorService gRPC API: protobuf in, a use case on a worker thread, protobuf out.

A user principal manages only its own two-factor authentication (another user's answers
NOT_FOUND); admins and services anyone's. Secrets and recovery codes appear only in the
answers that made them; the servicer logs neither.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import two_factor_service_pb2 as pb
from cloudplatform.identity.v1 import two_factor_service_pb2_grpc as pb_grpc
from cpshared.bounded_pool import time_left
from cpshared.context import actor_var
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import require_self
from identity_service.bootstrap import Identity
from identity_service.service_layer import two_factor

Context = aio.ServicerContext[Any, Any]
WHAT = "two-factor settings"


def status_message(status: two_factor.Status) -> pb.TwoFactorStatus:
    return pb.TwoFactorStatus(
        enabled=status.enabled,
        pending=status.pending,
        confirmed_at=_ts(status.confirmed_at),
        recovery_codes_left=status.recovery_codes_left,
    )


class TwoFactorServicer(pb_grpc.TwoFactorServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def GetTwoFactorStatus(  # noqa: N802
        self, request: pb.GetTwoFactorStatusRequest, context: Context
    ) -> pb.GetTwoFactorStatusResponse:
        require_self(request.user_id, WHAT)
        status = await asyncio.to_thread(two_factor.status, request.user_id, self._identity.uow())
        return pb.GetTwoFactorStatusResponse(status=status_message(status))

    async def EnrolTwoFactor(  # noqa: N802
        self, request: pb.EnrolTwoFactorRequest, context: Context
    ) -> pb.EnrolTwoFactorResponse:
        require_self(request.user_id, WHAT)
        enrolment = await asyncio.to_thread(two_factor.enrol, request.user_id, self._identity.uow())
        return pb.EnrolTwoFactorResponse(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)

    async def ConfirmTwoFactor(  # noqa: N802
        self, request: pb.ConfirmTwoFactorRequest, context: Context
    ) -> pb.ConfirmTwoFactorResponse:
        require_self(request.user_id, WHAT)
        status, codes = await self._identity.credentials.run(
            time_left(context),
            two_factor.confirm,
            request.user_id,
            request.code,
            self._identity.uow(),
            ip=actor_var.get().ip,
            keep_session_id=request.keep_session_id,
        )
        return pb.ConfirmTwoFactorResponse(status=status_message(status), recovery_codes=codes)

    async def DisableTwoFactor(  # noqa: N802
        self, request: pb.DisableTwoFactorRequest, context: Context
    ) -> pb.DisableTwoFactorResponse:
        require_self(request.user_id, WHAT)
        status = await self._identity.credentials.run(
            time_left(context),
            two_factor.disable,
            request.user_id,
            request.password,
            request.code,
            request.recovery_code,
            self._identity.uow(),
            ip=actor_var.get().ip,
        )
        return pb.DisableTwoFactorResponse(status=status_message(status))

    async def RegenerateRecoveryCodes(  # noqa: N802
        self, request: pb.RegenerateRecoveryCodesRequest, context: Context
    ) -> pb.RegenerateRecoveryCodesResponse:
        require_self(request.user_id, WHAT)
        status, codes = await self._identity.credentials.run(
            time_left(context),
            two_factor.regenerate_recovery_codes,
            request.user_id,
            request.code,
            self._identity.uow(),
            ip=actor_var.get().ip,
        )
        return pb.RegenerateRecoveryCodesResponse(recovery_codes=codes, status=status_message(status))


def add_two_factor_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_TwoFactorServiceServicer_to_server(TwoFactorServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["TwoFactorService"].full_name]
