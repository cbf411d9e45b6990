"""The gateway's calls to identity's TwoFactorService.

Failed calls raise the public error of the same meaning (clients/calls.py). Every call carries
the request's principal (make_channel forwards it), so identity holds a user to its own
two-factor settings as well.
"""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.identity.v1 import two_factor_service_pb2 as pb
from cloudplatform.identity.v1 import two_factor_service_pb2_grpc as pb_grpc
from gateway_service.clients.accounts import CREDENTIAL_DEADLINE, credential_call
from gateway_service.clients.calls import backend_call

BACKEND = "identity"


class TwoFactorClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _stub(self) -> pb_grpc.TwoFactorServiceAsyncStub:
        return pb_grpc.TwoFactorServiceStub(self._channel())  # a stub is a few attributes: cheap to make

    async def status(self, user_id: int) -> pb.TwoFactorStatus:
        answer = await backend_call(
            BACKEND, self._stub().GetTwoFactorStatus(pb.GetTwoFactorStatusRequest(user_id=user_id))
        )
        return answer.status

    async def enrol(self, user_id: int) -> pb.EnrolTwoFactorResponse:
        return await backend_call(BACKEND, self._stub().EnrolTwoFactor(pb.EnrolTwoFactorRequest(user_id=user_id)))

    async def confirm(self, user_id: int, code: str, keep_session_id: int = 0) -> pb.ConfirmTwoFactorResponse:
        return await backend_call(
            BACKEND,
            self._stub().ConfirmTwoFactor(
                pb.ConfirmTwoFactorRequest(user_id=user_id, code=code, keep_session_id=keep_session_id)
            ),
        )

    async def disable(
        self, user_id: int, password: str, code: str | None, recovery_code: str | None
    ) -> pb.TwoFactorStatus:
        request = pb.DisableTwoFactorRequest(user_id=user_id, password=password)
        if code is not None:
            request.code = code
        if recovery_code is not None:
            request.recovery_code = recovery_code
        answer = await credential_call(self._stub().DisableTwoFactor(request, timeout=CREDENTIAL_DEADLINE))
        return answer.status

    async def regenerate_recovery_codes(self, user_id: int, code: str) -> pb.RegenerateRecoveryCodesResponse:
        return await backend_call(
            BACKEND, self._stub().RegenerateRecoveryCodes(pb.RegenerateRecoveryCodesRequest(user_id=user_id, code=code))
        )
