"""The authenticated caller of one request."""

from __future__ import annotations

from dataclasses import dataclass
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
    rate_limit: int  # requests per hour, from the API key
