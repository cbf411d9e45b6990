"""Invitations to join an organization by email, the organization's details and per-member
permissions: the values, the rules, and the commands that ask for them.

An invitation's token is 32 random bytes (url-safe text); it exists only in the invitation
mail. Identity keeps its SHA-256, which is enough to find the invitation again from the token
(an indexed equality lookup) and, the token being 256 random bits, impossible to reverse.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cpshared.errors import Forbidden, InvalidInput, PreconditionFailed
from identity_service.domain.model import (
    Membership,
    OrganizationRole,
    User,
    UserStatus,
    normalise_email,
)

INVITATION_LIFETIME = timedelta(days=7)
TOKEN_BYTES = 32


@dataclass(frozen=True)
class NewToken:
    token: str = field(repr=False)
    digest: str


def new_invitation_token() -> NewToken:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return NewToken(token=token, digest=invitation_digest(token))


def invitation_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    id: int
    organization_id: int
    email: str
    role: OrganizationRole
    permissions: tuple[str, ...]
    invited_by: int | None
    created_at: datetime
    expires_at: datetime
    accepted_by: int | None = None
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at

    def check_acceptable(self, user: User, now: datetime) -> None:
        """Whether ``user`` may accept it now; a use by the same user is answered by the caller."""
        if user.status is not UserStatus.ACTIVE:
            raise PreconditionFailed(f"your account is {user.status.value}: only an active account accepts invitations")
        if user.email.lower() != self.email.lower():
            # Not which address it was for: the token may have reached the wrong person.
            raise Forbidden(
                "this invitation was sent to another email address: sign in with the account of that address"
            )
        if self.revoked_at is not None:
            raise PreconditionFailed("this invitation was revoked: ask the organization for a new one")
        if self.accepted_at is not None:
            raise PreconditionFailed("this invitation was used already: ask the organization for a new one")
        if now >= self.expires_at:
            raise PreconditionFailed(
                f"this invitation expired at {self.expires_at:%Y-%m-%d %H:%M} UTC: ask the organization for a new one"
            )


def check_billing_email(email: str) -> str | None:
    """A billing email, normalised; the empty string clears it (None)."""
    return normalise_email(email) if email.strip() else None


def acting_member(
    member: Membership | None, user_id: int, organization_id: int, now: datetime, *, as_platform_admin: bool
) -> Membership | None:
    """The acting user's membership; a platform admin outside the organization acts as one of
    its admins (staff reach every organization), never as its owner: ownership moves only by
    the owner's own transfer."""
    if member is not None or not as_platform_admin:
        return member
    return Membership(
        organization_id=organization_id,
        user_id=user_id,
        role=OrganizationRole.ADMIN,
        permissions=(),
        invited_by=None,
        joined_at=now,
    )


def invitation_mail(organization_name: str, role: OrganizationRole, token: str, public_url: str) -> tuple[str, str]:
    """Subject and body of the invitation mail."""
    link = f"{public_url.rstrip('/')}/v1/organizations/invitations/accept?token={token}"
    subject = f"You are invited to join {organization_name} on Cloud Platform"
    body = (
        f"You are invited to join the organization {organization_name} on Cloud Platform "
        f"with the role {role.value}.\n\n"
        f"To accept, sign in with this email address and open:\n\n    {link}\n\n"
        "or send the token below with POST /v1/organizations/invitations/accept "
        '({"token": "..."}) using an API key of your account:\n\n'
        f"    {token}\n\n"
        f"The invitation is valid for {INVITATION_LIFETIME.days} days. "
        "If you did not expect it, ignore this mail.\n"
    )
    return subject, body


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteMember:
    acting_user_id: int
    organization_id: int
    email: str
    role: OrganizationRole = OrganizationRole.MEMBER
    permissions: tuple[str, ...] = ()
    as_platform_admin: bool = False


@dataclass(frozen=True)
class RevokeInvitation:
    acting_user_id: int
    organization_id: int
    invitation_id: int
    as_platform_admin: bool = False


@dataclass(frozen=True)
class AcceptInvitation:
    acting_user_id: int
    token: str = field(repr=False)


@dataclass(frozen=True)
class UpdateOrganization:
    acting_user_id: int
    organization_id: int
    name: str | None = None
    billing_email: str | None = None
    """None: unchanged; the empty string clears it."""
    as_platform_admin: bool = False
    country: str | None = None
    """ISO 3166-1 alpha-2; None: unchanged; the empty string clears it."""
    tax_id: str | None = None
    """VAT id; None: unchanged; the empty string clears it."""

    def __post_init__(self) -> None:
        if self.name is None and self.billing_email is None and self.country is None and self.tax_id is None:
            raise InvalidInput("nothing to change: send a name, billing_email, country and/or tax_id")


@dataclass(frozen=True)
class SetMemberPermissions:
    acting_user_id: int
    organization_id: int
    user_id: int
    permissions: tuple[str, ...]
    as_platform_admin: bool = False
