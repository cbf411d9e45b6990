"""The gateway's calls to identity's TwoFactorService.

Failed calls raise the public error of the same meaning (backend_errors). Every call carries
the request's principal (make_channel forwards it), so identity holds a user to its own
two-factor settings as well.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from grpc import aio

from cloudplatform.identity.v1 import two_factor_service_pb2 as pb
from cloudplatform.identity.v1 import two_factor_service_pb2_grpc as pb_grpc
from gateway_service.backend_errors import domain_error_for

BACKEND = "identity"


class TwoFactorClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _stub(self) -> pb_grpc.TwoFactorServiceAsyncStub:
        return pb_grpc.TwoFactorServiceStub(self._channel())  # a stub is a few attributes: cheap to make

    async def status(self, user_id: int) -> pb.TwoFactorStatus:
        try:
            answer = await self._stub().GetTwoFactorStatus(pb.GetTwoFactorStatusRequest(user_id=user_id))
        except grpc.RpcError as exc:
            raise domain_error_for(exc, BACKEND) from None
        return answer.status

    async def enrol(self, user_id: int) -> pb.EnrolTwoFactorResponse:
        try:
            return await self._stub().EnrolTwoFactor(pb.EnrolTwoFactorRequest(user_id=user_id))
        except grpc.RpcError as exc:
            raise domain_error_for(exc, BACKEND) from None

    async def confirm(self, user_id: int, code: str) -> pb.ConfirmTwoFactorResponse:
        try:
            return await self._stub().ConfirmTwoFactor(pb.ConfirmTwoFactorRequest(user_id=user_id, code=code))
        except grpc.RpcError as exc:
            raise domain_error_for(exc, BACKEND) from None

    async def disable(
        self, user_id: int, password: str, code: str | None, recovery_code: str | None
    ) -> pb.TwoFactorStatus:
        request = pb.DisableTwoFactorRequest(user_id=user_id, password=password)
        if code is not None:
            request.code = code
        if recovery_code is not None:
            request.recovery_code = recovery_code
        try:
            answer = await self._stub().DisableTwoFactor(request)
        except grpc.RpcError as exc:
            raise domain_error_for(exc, BACKEND) from None
        return answer.status

    async def regenerate_recovery_codes(self, user_id: int, code: str) -> pb.RegenerateRecoveryCodesResponse:
        try:
            return await self._stub().RegenerateRecoveryCodes(
                pb.RegenerateRecoveryCodesRequest(user_id=user_id, code=code)
            )
        except grpc.RpcError as exc:
            raise domain_error_for(exc, BACKEND) from None
