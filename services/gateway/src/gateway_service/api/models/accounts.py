"""A user's profile and sessions as the account routes (/v1/auth, /v1/me) answer them."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from cloudplatform.identity.v1 import account_service_pb2 as pb
from cloudplatform.identity.v1 import identity_service_pb2 as id_pb


class SessionOut(BaseModel):
    """A signed-in browser or command line."""

    id: int
    ip: str = Field(description="Address of the sign-in or of the latest refresh.")
    user_agent: str
    created: datetime
    refreshed: datetime | None
    expires: datetime = Field(description="The session ends then, however often it is refreshed.")
    current: bool = Field(default=False, description="Whether this is the session making the request.")


class UserAnswer(BaseModel):
    user: UserOut


def user_out(profile: pb.Profile) -> UserOut:
    verified_at = _time(profile.email_verified_at, profile.HasField("email_verified_at"))
    created = _time(profile.created_at, profile.HasField("created_at"))
    return UserOut(
        id=profile.id,
        name=profile.name,
        email=profile.email,
        role=_name(id_pb.UserRole.Name(profile.role), "USER_ROLE_"),
        status=_name(id_pb.UserStatus.Name(profile.status), "USER_STATUS_"),
        email_verified=verified_at is not None,
        email_verified_at=verified_at,
        company_name=profile.company_name or None,
        tax_id=profile.tax_id or None,
        phone=profile.phone or None,
        address_line1=profile.address_line1 or None,
        address_line2=profile.address_line2 or None,
        city=profile.city or None,
        state=profile.state or None,
        postal_code=profile.postal_code or None,
        country=profile.country or None,
        timezone=profile.timezone or None,
        locale=profile.locale or None,
        created=created or datetime.fromtimestamp(0, UTC),
    )


def session_out(session: pb.Session, current_session_id: int = 0) -> SessionOut:
    return SessionOut(
        id=session.id,
        ip=session.ip_address,
        user_agent=session.user_agent,
        created=_time(session.created_at, True) or datetime.fromtimestamp(0, UTC),
        refreshed=_time(session.refreshed_at, session.HasField("refreshed_at")),
        expires=_time(session.expires_at, True) or datetime.fromtimestamp(0, UTC),
        current=session.id == current_session_id,
    )


class UserOut(BaseModel):
    """A person's account and profile; unset profile fields are null."""

    id: int
    name: str
    email: str
    role: str = Field(description="Platform role: admin, client, support or billing.")
    status: str = Field(description="active, pending (email not verified yet), suspended or banned.")
    email_verified: bool
    email_verified_at: datetime | None
    company_name: str | None
    tax_id: str | None
    phone: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2, e.g. DE.")
    timezone: str | None = Field(description="IANA time zone, e.g. Europe/Berlin.")
    locale: str | None
    created: datetime


def _name(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).lower()


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None
