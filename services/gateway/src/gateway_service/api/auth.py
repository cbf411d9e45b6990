"""``/v1/auth``: sign-up, email verification and sign-in sessions.

- ``POST /v1/auth/signup`` ``{name, email, password}``: ``202``; a pending account is made and
  a verification link mailed, or, when the email has an account already, its owner is mailed
  "you already have an account": the answer is the same, so it tells nobody which emails have
  an account. ``403 forbidden`` when sign-up is closed, ``400 invalid_input`` for a password
  the policy refuses (too short, common, or the email or name).
- ``POST /v1/auth/verify`` ``{token}`` (and ``GET /v1/auth/verify?token=``, the link in the
  mail): the account becomes active.
- ``POST /v1/auth/verify/resend`` ``{email}``: a new link for a pending account; always
  ``202``, so it tells nobody whether an email has an account.
- ``POST /v1/auth/password_reset`` ``{email}``: a single-use reset token is mailed to an
  active account (valid ``password_reset_minutes``, 30 by default); always ``202``.
- ``POST /v1/auth/password_reset/confirm`` ``{token, password}``: the new password (the
  password policy applies); every session of the account ends and a lockout is lifted;
  two-factor authentication stays on. A used, replaced or expired token ``400 invalid_input``.
- ``POST /v1/auth/login`` ``{email, password, totp_code?, recovery_code?}``: an access token
  (15 minutes) and a refresh token (the session's 30 days), shown once; send the access
  token as ``Authorization: Bearer <access_token>``. Wrong credentials ``401``, a locked,
  suspended or unverified account ``403``.
- ``POST /v1/auth/refresh`` ``{refresh_token}``: new tokens; the old refresh token stops
  working, and presenting it again ends the session.
- ``POST /v1/auth/logout`` (a session's access token): ends the calling session; it stops
  working within the principal cache's TTL (one second).

Answers with tokens are stored without them for Idempotency-Key replays (``X-Idempotency-Redact``).
Every route but logout is throttled per client address and overall (``429`` with
``Retry-After``, :mod:`gateway_service.rate_limit.credentials`); identity also slows and locks
an address that keeps guessing one account's password, never the account itself.
"""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.identity.v1 import account_service_pb2 as pb
from cpshared.auth.session_token import peek_access_token
from gateway_service.api.common import Text
from gateway_service.api.models.accounts import SessionOut, UserAnswer, UserOut, session_out, user_out
from gateway_service.auth.gate import Authenticated
from gateway_service.clients.backends import backends
from gateway_service.idempotency.middleware import REDACT_HEADER
from gateway_service.rate_limit.credentials import credential_throttle
from hetzner_conventions.error_handlers import documented_errors, error_response

router = APIRouter(prefix="/v1/auth", tags=["auth"])
THROTTLED = [Depends(credential_throttle)]

TOKEN_FIELDS = "access_token,refresh_token"  # noqa: S105 - field names, not secrets
PUBLIC_ERRORS = documented_errors(400, 401, 403, 409, 422, 429, 500)


# -- shapes shared with /v1/me --------------------------------------------------------------


class TokensAnswer(BaseModel):
    access_token: str | None = Field(description="Send as 'Authorization: Bearer <access_token>'. Shown once.")
    refresh_token: str | None = Field(description="Exchange at POST /v1/auth/refresh, once. Shown once.")
    token_type: str = "Bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_expires_in: int = Field(description="Seconds until the session (and its refresh token) ends.")
    session: SessionOut
    user: UserOut | None = None


class AcceptedAnswer(BaseModel):
    message: str


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "0.0.0.0"  # noqa: S104 - an address, not a bind


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:512]


def _tokens_answer(session: pb.Session, tokens: pb.SessionTokens, profile: pb.Profile | None) -> TokensAnswer:
    claims = peek_access_token(tokens.access_token)
    refresh_ends = tokens.refresh_token_expires_at.ToDatetime(tzinfo=UTC)
    return TokensAnswer(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
        refresh_expires_in=max(0, int((refresh_ends - claims.issued_at).total_seconds())),
        session=session_out(session, session.id),
        user=user_out(profile) if profile is not None else None,
    )


# -- routes ---------------------------------------------------------------------------------


class SignUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=8, max_length=1024)


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)


class ResendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=255)


class PasswordResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=255)


class PasswordResetConfirmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The reset token from the mail.")
    password: str = Field(min_length=8, max_length=1024, description="The new password.")


class PasswordResetAnswer(BaseModel):
    revoked_sessions: int = Field(description="Sessions of the account the reset ended (all of them).")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str | None = Field(default=None, max_length=16, description="With two-factor authentication on.")
    recovery_code: str | None = Field(default=None, max_length=64, description="Instead of a TOTP code.")


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


SIGNED_UP = (
    "check your mail: a link to verify the email address and activate the account is on its way "
    "(if the email has an account already, the mail says so)"
)


@router.post("/signup", status_code=202, responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def sign_up(request: Request, body: SignUpBody) -> AcceptedAnswer:
    """A new account, pending until the link mailed to its email is opened; the same answer when the
    email has an account (its owner is mailed instead)."""
    await backends(request).accounts.sign_up(
        pb.SignUpRequest(
            name=body.name,
            email=body.email,
            password=body.password,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    )
    return AcceptedAnswer(message=SIGNED_UP)


@router.post("/verify", responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def verify_email(request: Request, body: VerifyBody) -> UserAnswer:
    """Verify the email with the token from the mail: the account becomes active."""
    return UserAnswer(user=user_out(await backends(request).accounts.verify_email(body.token)))


@router.get("/verify", responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def verify_email_link(request: Request, token: str) -> UserAnswer:
    """The link in the verification mail: the same as ``POST /v1/auth/verify``."""
    return UserAnswer(user=user_out(await backends(request).accounts.verify_email(token)))


@router.post("/verify/resend", status_code=202, responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def resend_verification(request: Request, body: ResendBody) -> AcceptedAnswer:
    """Mail a new verification link to a pending account (at most one a minute)."""
    await backends(request).accounts.resend_verification(body.email)
    return AcceptedAnswer(message="if an account with this email waits for verification, a new link is on its way")


@router.post("/password_reset", status_code=202, responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def request_password_reset(request: Request, body: PasswordResetBody) -> AcceptedAnswer:
    """Mail a password reset token to the account with this email (at most one a minute)."""
    await backends(request).accounts.request_password_reset(body.email)
    return AcceptedAnswer(message="if an active account has this email, a password reset token is on its way")


@router.post("/password_reset/confirm", responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def confirm_password_reset(request: Request, body: PasswordResetConfirmBody) -> PasswordResetAnswer:
    """Set a new password with the token from the reset mail; every session of the account ends."""
    revoked = await backends(request).accounts.confirm_password_reset(body.token, body.password)
    return PasswordResetAnswer(revoked_sessions=revoked)


@router.post("/login", responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def login(request: Request, response: Response, body: LoginBody) -> TokensAnswer:
    """Sign in: an access token and a refresh token, shown once."""
    response.headers[REDACT_HEADER] = TOKEN_FIELDS
    answer = await backends(request).accounts.create_session(
        pb.CreateSessionRequest(
            email=body.email,
            password=body.password,
            totp_code=body.totp_code or "",
            recovery_code=body.recovery_code or "",
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    )
    return _tokens_answer(answer.session, answer.tokens, answer.profile)


@router.post("/refresh", responses=PUBLIC_ERRORS, dependencies=THROTTLED)
async def refresh(request: Request, response: Response, body: RefreshBody) -> TokensAnswer:
    """New tokens for the refresh token; the old one stops working (sending it again ends the session)."""
    response.headers[REDACT_HEADER] = TOKEN_FIELDS
    answer = await backends(request).accounts.refresh_session(
        body.refresh_token, client_ip(request), user_agent(request)
    )
    return _tokens_answer(answer.session, answer.tokens, None)


@router.post("/logout", status_code=204)
async def logout(request: Request, principal: Authenticated) -> Response:
    """End the calling session (sign out)."""
    if not principal.session_id:
        answer = error_response(
            "invalid_input",
            "this request is authenticated with an API key, not a session: "
            "revoke the key with DELETE /v1/api_keys/{id}",
        )
        answer.status_code = 422
        return answer
    await backends(request).accounts.revoke_session(principal.session_id, principal.user_id)
    return Response(status_code=204)
