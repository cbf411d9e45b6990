"""An alert: one firing of a rule about one resource (alert_history, kept from the alert events),
and its acknowledgement. Plain Python."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

STATUSES = ("triggered", "resolved", "acknowledged")


@dataclass(frozen=True)
class Alert:
    id: int
    alert_rule_id: int
    user_id: int
    organization_id: int | None
    rule_name: str
    resource_type: str
    resource_id: int | None
    metric: str
    operator: str
    threshold: Decimal
    duration_minutes: int
    status: str
    value: Decimal | None
    message: str
    triggered_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def acknowledge(self, user_id: int, now: datetime) -> Alert:
        """The alert acknowledged by ``user_id`` at ``now``; acknowledged already: as it is (the
        first acknowledgement stands). A resolved alert stays ``resolved``, with who and when."""
        if self.acknowledged:
            return self
        status = "acknowledged" if self.status == "triggered" else self.status
        return replace(self, status=status, acknowledged_at=now, acknowledged_by=user_id)
