"""``/v1/me/two_factor``: the caller's two-factor authentication (TOTP and recovery codes).

- ``GET /v1/me/two_factor``: whether it is on, pending confirmation, and recovery codes left.
- ``POST /v1/me/two_factor``: enrol: a new ``secret`` and its ``otpauth_uri`` (show it as a QR
  code) for an authenticator app; enrolling again before confirming replaces it.
- ``POST /v1/me/two_factor/confirm`` ``{code}``: turns it on with the app's first code; answers
  the ``recovery_codes``. Every other session of the user ends (they were opened without the
  second factor); the calling one stays (with an API key: every session ends).
- ``POST /v1/me/two_factor/disable`` ``{password, code | recovery_code}``: turns it off.
- ``POST /v1/me/two_factor/recovery_codes`` ``{code}``: a new set of recovery codes; the earlier
  ones stop working.

The secret, the URI (it holds the secret) and recovery codes are shown once: an
Idempotency-Key replay answers them as ``null`` (idempotency.middleware's redaction), so the
gateway's database never holds them. Identity checks again that a user acts on itself. The
routes that check a code or the password are throttled like sign-in (429 with Retry-After),
and a wrong code counts towards identity's per-(account, address) lockout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Self

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloudplatform.identity.v1 import two_factor_service_pb2 as pb
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.idempotency.middleware import REDACT_HEADER
from gateway_service.rate_limit.credentials import credential_throttle
from hetzner_conventions.error_handlers import documented_errors

router = APIRouter(prefix="/v1/me/two_factor", tags=["two_factor"])

CODE = Field(min_length=6, max_length=12, description="The current six-digit code of the authenticator app.")
RECOVERY_CODE = Field(min_length=1, max_length=64, description="An unused recovery code, e.g. 'k7mq-x2cd-9fha'.")
STATE_ERRORS = documented_errors(412, 503)


class TwoFactorState(BaseModel):
    enabled: bool = Field(description="Whether sign-in asks for a code.")
    pending: bool = Field(description="A secret was enrolled and waits for its first code.")
    confirmed_at: datetime | None = Field(description="When it was turned on; null when it is off.")
    recovery_codes_left: int = Field(description="Unused recovery codes.")


class TwoFactorAnswer(BaseModel):
    two_factor: TwoFactorState


class Enrolment(BaseModel):
    secret: str | None = Field(description="The TOTP secret in base32, shown once (null in an Idempotency-Key replay).")
    otpauth_uri: str | None = Field(
        description="otpauth:// URI for a QR code, shown once (null in an Idempotency-Key replay)."
    )


class RecoveryCodes(BaseModel):
    two_factor: TwoFactorState
    recovery_codes: list[str] | None = Field(
        description="Single-use codes that sign in instead of the app's code, shown once (null in a replay)."
    )


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = CODE


class DisableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024, description="The account's password.")
    code: str | None = Field(default=None, min_length=6, max_length=12, description="The app's current code.")
    recovery_code: str | None = Field(default=None, min_length=1, max_length=64, description="Or a recovery code.")

    @model_validator(mode="after")
    def exactly_one_proof(self) -> Self:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code and recovery_code")
        return self


def state_json(status: pb.TwoFactorStatus) -> TwoFactorState:
    return TwoFactorState(
        enabled=status.enabled,
        pending=status.pending,
        confirmed_at=status.confirmed_at.ToDatetime(tzinfo=UTC) if status.HasField("confirmed_at") else None,
        recovery_codes_left=status.recovery_codes_left,
    )


@router.get("", responses=documented_errors(503))
@scope(Family.TWO_FACTOR, Access.READ)
async def get_two_factor(request: Request, principal: Authenticated) -> TwoFactorAnswer:
    """The caller's two-factor authentication: on or off, and recovery codes left."""
    return TwoFactorAnswer(two_factor=state_json(await backends(request).two_factor.status(principal.user_id)))


@router.post("", status_code=201, responses=STATE_ERRORS)
@scope(Family.TWO_FACTOR, Access.WRITE)
async def enrol_two_factor(request: Request, response: Response, principal: Authenticated) -> Enrolment:
    """Enrol an authenticator app: a new secret, shown once; confirm it with the app's first code."""
    response.headers[REDACT_HEADER] = "secret,otpauth_uri"
    enrolled = await backends(request).two_factor.enrol(principal.user_id)
    return Enrolment(secret=enrolled.secret, otpauth_uri=enrolled.otpauth_uri)


@router.post("/confirm", responses=STATE_ERRORS, dependencies=[Depends(credential_throttle)])
@scope(Family.TWO_FACTOR, Access.WRITE)
async def confirm_two_factor(
    request: Request, response: Response, principal: Authenticated, body: CodeBody
) -> RecoveryCodes:
    """Turn two-factor authentication on with the app's first code; the recovery codes, shown once."""
    response.headers[REDACT_HEADER] = "recovery_codes"
    confirmed = await backends(request).two_factor.confirm(principal.user_id, body.code, principal.session_id)
    return RecoveryCodes(two_factor=state_json(confirmed.status), recovery_codes=list(confirmed.recovery_codes))


@router.post("/disable", responses=STATE_ERRORS, dependencies=[Depends(credential_throttle)])
@scope(Family.TWO_FACTOR, Access.WRITE)
async def disable_two_factor(request: Request, principal: Authenticated, body: DisableBody) -> TwoFactorAnswer:
    """Turn two-factor authentication off: the password and a code (or a recovery code)."""
    status = await backends(request).two_factor.disable(principal.user_id, body.password, body.code, body.recovery_code)
    return TwoFactorAnswer(two_factor=state_json(status))


@router.post("/recovery_codes", responses=STATE_ERRORS, dependencies=[Depends(credential_throttle)])
@scope(Family.TWO_FACTOR, Access.WRITE)
async def regenerate_recovery_codes(
    request: Request, response: Response, principal: Authenticated, body: CodeBody
) -> RecoveryCodes:
    """A new set of recovery codes, shown once, given the app's current code; the old ones stop working."""
    response.headers[REDACT_HEADER] = "recovery_codes"
    answer = await backends(request).two_factor.regenerate_recovery_codes(principal.user_id, body.code)
    return RecoveryCodes(two_factor=state_json(answer.status), recovery_codes=list(answer.recovery_codes))
