"""What billing is asked to do, as the entrypoints hand it to the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class RunInvoices:
    """Bill every account with unbilled usage up to the end of ``period`` (any day of the month)."""

    period: date


@dataclass(frozen=True)
class GrantCredit:
    """A credit of a user's own account, or of an organization's (``organization_id``)."""

    user_id: int
    organization_id: int | None
    kind: str
    amount: str
    currency: str
    expires_at: datetime | None
    description: str
