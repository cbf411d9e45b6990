"""The authenticated caller of one request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """Platform roles (users.role)."""

    ADMIN = "admin"
    SUPPORT = "support"
    BILLING = "billing"
    CLIENT = "client"


@dataclass(frozen=True)
class Principal:
    user_id: int
    api_key_id: int
    role: Role
    scopes: frozenset[str]
    organization_id: int | None
    rate_limit: int  # requests per hour: the API key's, or the per-user budget of sessions
    assertion: str = field(default="", repr=False, compare=False)
    """Identity's signed principal assertion for this key, sent as ``x-principal`` to backends."""
    assertion_expires_at: datetime | None = field(default=None, repr=False, compare=False)
    session_id: int = 0
    """The sign-in session of a session access token; 0 for an API key (``api_key_id`` is 0 for a session)."""
