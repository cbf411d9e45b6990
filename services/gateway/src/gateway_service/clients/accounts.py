"""The gateway's calls to identity's AccountService: sign-up, sessions, profile, password.

The public steps (sign-up, verification, login, refresh, password reset) run before anyone is signed in, so
they carry the gateway's own service principal; the others carry the caller's. A failed call
raises the public error of the same meaning (clients/calls.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from grpc import aio

from cloudplatform.identity.v1 import account_service_pb2 as pb
from cloudplatform.identity.v1 import account_service_pb2_grpc as pb_grpc
from cpshared.errors import RateLimited
from gateway_service.clients.calls import BackendTimeout, backend_call

Answer = TypeVar("Answer")

BACKEND = "identity"
CREDENTIAL_DEADLINE = 5.0
"""Seconds a call that checks or sets a password may take (argon2id costs ~0.1 s of a core, and
identity queues such calls on a small pool of their own): longer than the channel's default.
Identity refuses a call it cannot finish within it (429), rather than letting it time out."""


async def credential_call(call: Awaitable[Answer]) -> Answer:
    """A call that checks or sets a password: one identity could not finish in time (its
    password pool overloaded past what it could foresee) is a 429 to retry, never a 504."""
    try:
        return await backend_call(BACKEND, call)
    except BackendTimeout:
        raise RateLimited(
            "identity is too busy to check credentials in time right now; send the same request again", retry_after=2
        ) from None


class AccountsClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel
        self._stub: pb_grpc.AccountServiceAsyncStub | None = None
        self._stub_channel: aio.Channel | None = None

    def _accounts(self) -> pb_grpc.AccountServiceAsyncStub:
        channel = self._channel()
        if self._stub is None or self._stub_channel is not channel:
            self._stub, self._stub_channel = pb_grpc.AccountServiceStub(channel), channel
        assert self._stub is not None
        return self._stub

    async def sign_up(self, request: pb.SignUpRequest) -> pb.Profile:
        return (await credential_call(self._accounts().SignUp(request, timeout=CREDENTIAL_DEADLINE))).profile

    async def verify_email(self, token: str) -> pb.Profile:
        return (await backend_call(BACKEND, self._accounts().VerifyEmail(pb.VerifyEmailRequest(token=token)))).profile

    async def resend_verification(self, email: str) -> None:
        await backend_call(BACKEND, self._accounts().ResendVerification(pb.ResendVerificationRequest(email=email)))

    async def request_password_reset(self, email: str) -> None:
        request = pb.RequestPasswordResetRequest(email=email)
        await backend_call(BACKEND, self._accounts().RequestPasswordReset(request))

    async def confirm_password_reset(self, token: str, new_password: str) -> int:
        request = pb.ConfirmPasswordResetRequest(token=token, new_password=new_password)
        return (await backend_call(BACKEND, self._accounts().ConfirmPasswordReset(request))).revoked_sessions

    async def create_session(self, request: pb.CreateSessionRequest) -> pb.CreateSessionResponse:
        return await credential_call(self._accounts().CreateSession(request, timeout=CREDENTIAL_DEADLINE))

    async def refresh_session(self, refresh_token: str, ip: str, user_agent: str) -> pb.RefreshSessionResponse:
        request = pb.RefreshSessionRequest(refresh_token=refresh_token, ip=ip, user_agent=user_agent)
        return await backend_call(BACKEND, self._accounts().RefreshSession(request))

    async def revoke_session(self, session_id: int, user_id: int) -> pb.Session:
        request = pb.RevokeSessionRequest(session_id=session_id, user_id=user_id)
        return (await backend_call(BACKEND, self._accounts().RevokeSession(request))).session

    async def list_sessions(self, user_id: int) -> list[pb.Session]:
        answer = await backend_call(BACKEND, self._accounts().ListSessions(pb.ListSessionsRequest(user_id=user_id)))
        return list(answer.sessions)

    async def get_profile(self, user_id: int) -> pb.Profile:
        return (await backend_call(BACKEND, self._accounts().GetProfile(pb.GetProfileRequest(user_id=user_id)))).profile

    async def update_profile(self, request: pb.UpdateProfileRequest) -> pb.Profile:
        return (await backend_call(BACKEND, self._accounts().UpdateProfile(request))).profile

    async def change_password(self, request: pb.ChangePasswordRequest) -> int:
        return (
            await backend_call(BACKEND, self._accounts().ChangePassword(request, timeout=CREDENTIAL_DEADLINE))
        ).revoked_sessions
