"""``/v1/me``: the caller's own account, profile, password and sessions.

- ``GET /v1/me``, ``PATCH /v1/me``: the account and its profile; PATCH changes the fields
  sent (``null`` clears one, except ``name``).
- ``POST /v1/me/password`` ``{current_password, new_password}``: every other session ends
  (with an API key: every session).
- ``GET /v1/me/sessions``: live sessions, newest first, paged; ``current`` marks the caller's.
- ``DELETE /v1/me/sessions/{id}``: end one of the caller's sessions; another's is ``404``.

A session holds every scope; an API key needs ``account:read`` / ``account:write`` (or ``*``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudplatform.identity.v1 import account_service_pb2 as pb
from gateway_service.api.common import Id, Text, one_page
from gateway_service.api.models.accounts import SessionOut, UserAnswer, session_out, user_out
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from gateway_service.rate_limit.credentials import credential_throttle
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.pagination import parse_page_request

router = APIRouter(prefix="/v1/me", tags=["me"])


class ProfilePatch(BaseModel):
    """Fields to change; ``null`` or an empty string clears one (not ``name``)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, max_length=255)
    company_name: Text | None = Field(default=None, max_length=255)
    tax_id: Text | None = Field(default=None, max_length=50)
    phone: Text | None = Field(default=None, max_length=20)
    address_line1: Text | None = Field(default=None, max_length=255)
    address_line2: Text | None = Field(default=None, max_length=255)
    city: Text | None = Field(default=None, max_length=100)
    state: Text | None = Field(default=None, max_length=100)
    postal_code: Text | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. DE.")
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Berlin.")
    locale: str | None = Field(default=None, max_length=10, description="e.g. en or de-DE.")


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class PasswordChanged(BaseModel):
    revoked_sessions: int = Field(description="Sessions ended by the change.")


class SessionsAnswer(BaseModel):
    sessions: list[SessionOut]
    meta: dict[str, object]


@router.get("")
@scope(Family.ACCOUNT, Access.READ)
async def get_me(request: Request, principal: Authenticated) -> UserAnswer:
    """The caller's account and profile."""
    return UserAnswer(user=user_out(await backends(request).accounts.get_profile(principal.user_id)))


@router.patch("")
@scope(Family.ACCOUNT, Access.WRITE)
async def update_me(request: Request, principal: Authenticated, body: ProfilePatch) -> UserAnswer:
    """Change profile fields."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise invalid_field("name", "name cannot be cleared: send 1 to 255 characters")
    update = pb.UpdateProfileRequest(user_id=principal.user_id, **{k: v or "" for k, v in changes.items()})
    return UserAnswer(user=user_out(await backends(request).accounts.update_profile(update)))


@router.post("/password", dependencies=[Depends(credential_throttle)])
@scope(Family.ACCOUNT, Access.WRITE)
async def change_password(request: Request, principal: Authenticated, body: PasswordChange) -> PasswordChanged:
    """Change the password; every other session ends."""
    revoked = await backends(request).accounts.change_password(
        pb.ChangePasswordRequest(
            user_id=principal.user_id,
            current_password=body.current_password,
            new_password=body.new_password,
            keep_session_id=principal.session_id,
        )
    )
    return PasswordChanged(revoked_sessions=revoked)


@router.get("/sessions")
@scope(Family.ACCOUNT, Access.READ)
async def list_sessions(
    request: Request,
    response: Response,
    principal: Authenticated,
    page: Annotated[str | None, Query()] = None,
    per_page: Annotated[str | None, Query()] = None,
) -> SessionsAnswer:
    """The caller's live sessions, newest first, one page of them."""
    page_request = parse_page_request(page, per_page)
    sessions = await backends(request).accounts.list_sessions(principal.user_id)
    chosen, meta = one_page(request, response, sessions, page_request)
    return SessionsAnswer(sessions=[session_out(s, principal.session_id) for s in chosen], meta=meta.model_dump())


@router.delete("/sessions/{session_id}", status_code=204)
@scope(Family.ACCOUNT, Access.WRITE)
async def revoke_session(request: Request, principal: Authenticated, session_id: Id) -> Response:
    """End one of the caller's sessions: its tokens stop working within a second."""
    await backends(request).accounts.revoke_session(session_id, principal.user_id)
    return Response(status_code=204)
