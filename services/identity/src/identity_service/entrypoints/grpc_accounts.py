"""The AccountService gRPC API: sign-up, verification, sessions, profile, password and its reset.

As in grpc_servicer: protobuf in, a use case on a worker thread, protobuf out. Verification
mails are sent after the use case committed, on another worker thread; a mail that fails is
logged and the answer is still OK (the person asks for a new link).

A password reset mail is sent on a background task after the answer, so the answer takes as
long whether or not the email has an account; the notice that a reset happened is sent after
the reset committed.

Who may call: the public steps before anyone is signed in (SignUp, VerifyEmail,
ResendVerification, CreateSession, RefreshSession, RequestPasswordReset, ConfirmPasswordReset)
only services (the gateway); the rest a user on itself, an admin on anyone
(adapters.authorization).
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc import aio

from cloudplatform.identity.v1 import account_service_pb2 as pb
from cloudplatform.identity.v1 import account_service_pb2_grpc as pb_grpc
from cpshared.bounded_pool import time_left
from cpshared.context import actor_var, current_principal
from cpshared.timestamps import to_timestamp as _ts
from identity_service.adapters.authorization import owner_constraint, require_self, require_service
from identity_service.bootstrap import Identity
from identity_service.domain.accounts import PROFILE_FIELDS, Profile, UserSession
from identity_service.entrypoints.grpc_messages import ROLES, STATUSES
from identity_service.service_layer import accounts
from identity_service.service_layer.accounts import PendingMail, SessionTokens

Context = aio.ServicerContext[Any, Any]


def profile_message(profile: Profile) -> pb.Profile:
    return pb.Profile(
        id=profile.id,
        name=profile.name,
        email=profile.email,
        role=ROLES[profile.role],
        status=STATUSES[profile.status],
        email_verified_at=_ts(profile.email_verified_at),
        created_at=_ts(profile.created_at),
        **{name: getattr(profile, name) for name in PROFILE_FIELDS if name != "name"},
    )


def session_message(session: UserSession) -> pb.Session:
    return pb.Session(
        id=session.id,
        user_id=session.user_id,
        ip_address=session.ip_address,
        user_agent=session.user_agent,
        created_at=_ts(session.created_at),
        refreshed_at=_ts(session.refreshed_at),
        expires_at=_ts(session.expires_at),
        revoked_at=_ts(session.revoked_at),
    )


def tokens_message(tokens: SessionTokens) -> pb.SessionTokens:
    return pb.SessionTokens(
        access_token=tokens.access_token,
        access_token_expires_at=_ts(tokens.access_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_token_expires_at=_ts(tokens.refresh_expires_at),
    )


def _acting_user_id() -> int:
    principal = current_principal()
    return principal.user_id if principal is not None and not principal.is_service else 0


class AccountServicer(pb_grpc.AccountServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._background: set[asyncio.Task[bool]] = set()

    async def _mail_verification(self, mail: PendingMail | None) -> None:
        if mail is not None:
            identity = self._identity
            await asyncio.to_thread(accounts.send_verification, identity.send_mail, identity.mail.public_url, mail)

    async def SignUp(self, request: pb.SignUpRequest, context: Context) -> pb.SignUpResponse:  # noqa: N802
        require_service("SignUp")
        cmd = accounts.SignUp(
            name=request.name,
            email=request.email,
            password=request.password,
            ip=request.ip,
            user_agent=request.user_agent,
        )
        profile, mail = await self._identity.credentials.run(
            time_left(context), accounts.sign_up, cmd, self._identity.uow()
        )
        await self._mail_verification(mail)
        return pb.SignUpResponse(profile=profile_message(profile) if profile is not None else None)

    async def VerifyEmail(self, request: pb.VerifyEmailRequest, context: Context) -> pb.VerifyEmailResponse:  # noqa: N802
        require_service("VerifyEmail")
        profile = await asyncio.to_thread(accounts.verify_email, request.token, self._identity.uow())
        return pb.VerifyEmailResponse(profile=profile_message(profile))

    async def ResendVerification(  # noqa: N802
        self, request: pb.ResendVerificationRequest, context: Context
    ) -> pb.ResendVerificationResponse:
        require_service("ResendVerification")
        mail = await asyncio.to_thread(accounts.resend_verification, request.email, self._identity.uow())
        await self._mail_verification(mail)
        return pb.ResendVerificationResponse()

    async def CreateSession(  # noqa: N802
        self, request: pb.CreateSessionRequest, context: Context
    ) -> pb.CreateSessionResponse:
        require_service("CreateSession")
        cmd = accounts.CreateSession(
            email=request.email,
            password=request.password,
            ip=request.ip,
            user_agent=request.user_agent,
            totp_code=request.totp_code,
            recovery_code=request.recovery_code,
        )
        session, tokens, profile = await self._identity.credentials.run(
            time_left(context), accounts.create_session, cmd, self._identity.signing_key, self._identity.uow
        )
        return pb.CreateSessionResponse(
            session=session_message(session), tokens=tokens_message(tokens), profile=profile_message(profile)
        )

    async def RefreshSession(  # noqa: N802
        self, request: pb.RefreshSessionRequest, context: Context
    ) -> pb.RefreshSessionResponse:
        require_service("RefreshSession")
        session, tokens = await asyncio.to_thread(
            accounts.refresh_session,
            request.refresh_token,
            request.ip,
            request.user_agent,
            self._identity.signing_key,
            self._identity.uow(),
        )
        return pb.RefreshSessionResponse(session=session_message(session), tokens=tokens_message(tokens))

    async def RevokeSession(  # noqa: N802
        self, request: pb.RevokeSessionRequest, context: Context
    ) -> pb.RevokeSessionResponse:
        owner = owner_constraint()
        if request.user_id:
            require_self(request.user_id, "sessions")
            owner = request.user_id
        session = await asyncio.to_thread(
            accounts.revoke_session,
            request.session_id,
            self._identity.uow(),
            owner_id=owner,
            acting_user_id=_acting_user_id(),
        )
        return pb.RevokeSessionResponse(session=session_message(session))

    async def ListSessions(self, request: pb.ListSessionsRequest, context: Context) -> pb.ListSessionsResponse:  # noqa: N802
        require_self(request.user_id, "sessions")
        sessions = await asyncio.to_thread(accounts.list_sessions, request.user_id, self._identity.uow())
        return pb.ListSessionsResponse(sessions=[session_message(s) for s in sessions])

    async def GetProfile(self, request: pb.GetProfileRequest, context: Context) -> pb.GetProfileResponse:  # noqa: N802
        require_self(request.user_id, "the profile")
        profile = await asyncio.to_thread(accounts.get_profile, request.user_id, self._identity.uow())
        return pb.GetProfileResponse(profile=profile_message(profile))

    async def UpdateProfile(  # noqa: N802
        self, request: pb.UpdateProfileRequest, context: Context
    ) -> pb.UpdateProfileResponse:
        require_self(request.user_id, "the profile")
        present = {descriptor.name for descriptor, _ in request.ListFields()}
        wanted = {name: str(getattr(request, name)) for name in PROFILE_FIELDS if name in present}
        profile = await asyncio.to_thread(accounts.update_profile, request.user_id, wanted, self._identity.uow())
        return pb.UpdateProfileResponse(profile=profile_message(profile))

    async def ChangePassword(  # noqa: N802
        self, request: pb.ChangePasswordRequest, context: Context
    ) -> pb.ChangePasswordResponse:
        require_self(request.user_id, "the password")
        revoked = await self._identity.credentials.run(
            time_left(context),
            accounts.change_password,
            request.user_id,
            request.current_password,
            request.new_password,
            request.keep_session_id,
            self._identity.uow(),
            ip=actor_var.get().ip,
        )
        return pb.ChangePasswordResponse(revoked_sessions=revoked)

    async def RequestPasswordReset(  # noqa: N802
        self, request: pb.RequestPasswordResetRequest, context: Context
    ) -> pb.RequestPasswordResetResponse:
        require_service("RequestPasswordReset")
        identity = self._identity
        mail = await asyncio.to_thread(accounts.request_password_reset, request.email, identity.uow())
        if mail is not None:
            task = asyncio.create_task(
                asyncio.to_thread(accounts.send_password_reset, identity.send_mail, identity.mail.public_url, mail)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return pb.RequestPasswordResetResponse()

    async def ConfirmPasswordReset(  # noqa: N802
        self, request: pb.ConfirmPasswordResetRequest, context: Context
    ) -> pb.ConfirmPasswordResetResponse:
        require_service("ConfirmPasswordReset")
        identity = self._identity
        profile, revoked = await asyncio.to_thread(
            accounts.confirm_password_reset, request.token, request.new_password, identity.uow()
        )
        await asyncio.to_thread(accounts.send_password_reset_done, identity.send_mail, profile.email)
        return pb.ConfirmPasswordResetResponse(revoked_sessions=revoked)


def add_account_servicer(server: aio.Server, identity: Identity) -> list[str]:
    pb_grpc.add_AccountServiceServicer_to_server(AccountServicer(identity), server)
    return [pb.DESCRIPTOR.services_by_name["AccountService"].full_name]
