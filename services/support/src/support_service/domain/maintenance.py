"""Maintenance windows: when the platform (or part of it) is worked on, for a status page.

Staff schedule a window (``planned`` or ``emergency``) with the services and datacenters it
affects, a start and an end in the future. The clock moves it: ``scheduled`` → ``in_progress``
at its start → ``completed`` at its end (a window whose whole span passed unseen goes through
both at once). Staff change a scheduled or running window (a running one's start is history:
only its end moves) and cancel a scheduled one; completed and cancelled are final.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cpshared.errors import PreconditionFailed
from support_service.domain.aggregate import Aggregate
from support_service.domain.tickets import check_choice, field_error

TYPES: Final = ("planned", "emergency")
SCHEDULED: Final = "scheduled"
IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"
CANCELLED: Final = "cancelled"
STATUSES: Final = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELLED)
# What a window can affect: the platform's services as customers know them.
SERVICES: Final = (
    "servers",
    "volumes",
    "networks",
    "floating_ips",
    "load_balancers",
    "firewalls",
    "backups",
    "api",
    "console",
    "billing",
)
DATACENTER: Final = re.compile(r"^[a-z]{3}[0-9]+(-dc[0-9]+)?$")
MAX_TITLE: Final = 255
MAX_DESCRIPTION: Final = 10_000
MAX_AFFECTED: Final = 50


def check_title(title: str) -> str:
    if not title.strip() or len(title) > MAX_TITLE or any(ch in title for ch in "\r\n\x00"):
        raise field_error("title", f"title must be one line of 1 to {MAX_TITLE} characters")
    return title.strip()


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION or "\x00" in description:
        raise field_error("description", f"description must be text of at most {MAX_DESCRIPTION} characters")
    return description


def check_services(services: Sequence[str]) -> list[str]:
    if len(services) > MAX_AFFECTED:
        raise field_error("affected_services", f"at most {MAX_AFFECTED} services")
    for service in services:
        check_choice("affected_services", service, SERVICES)
    return list(dict.fromkeys(services))


def check_datacenters(datacenters: Sequence[str]) -> list[str]:
    if len(datacenters) > MAX_AFFECTED:
        raise field_error("affected_datacenters", f"at most {MAX_AFFECTED} datacenters")
    for name in datacenters:
        if not DATACENTER.match(name):
            raise field_error(
                "affected_datacenters", f"{name!r} is not a datacenter or location name (fsn1-dc14, fsn1)"
            )
    return list(dict.fromkeys(datacenters))


def check_span(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise field_error("end_time", "end_time must be after start_time")
    if end <= now:
        raise field_error("end_time", "end_time must be in the future")


@dataclass
class MaintenanceWindow(Aggregate):
    id: int
    title: str
    description: str
    type: str
    affected_services: list[str]
    affected_datacenters: list[str]
    start_time: datetime
    end_time: datetime
    status: str = SCHEDULED
    created_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    def scheduled(self, staff_user_id: int) -> None:
        """Record the scheduling, once the repository gave the window its id."""
        self._record("maintenance.scheduled", staff_user_id)

    def update(
        self,
        staff_user_id: int,
        *,
        now: datetime,
        title: str | None = None,
        description: str | None = None,
        kind: str | None = None,
        services: list[str] | None = None,
        datacenters: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Change what is given (values already checked); the fields that changed."""
        if self.status not in (SCHEDULED, IN_PROGRESS):
            raise PreconditionFailed(f"maintenance window {self.id} is {self.status}; it can no longer change")
        if start is not None and start != self.start_time and self.status != SCHEDULED:
            raise PreconditionFailed(f"maintenance window {self.id} has started; only its end can move")
        new_start, new_end = start or self.start_time, end or self.end_time
        if (new_start, new_end) != (self.start_time, self.end_time):
            check_span(new_start, new_end, now)
        wanted: dict[str, Any] = {
            "title": title,
            "description": description,
            "type": kind,
            "affected_services": services,
            "affected_datacenters": datacenters,
            "start_time": start,
            "end_time": end,
        }
        changed = []
        for name, value in wanted.items():
            if value is not None and value != getattr(self, name):
                setattr(self, name, value)
                changed.append(name)
        if changed:
            self.version += 1
            self._record("maintenance.updated", staff_user_id, fields=changed)
        return changed

    def cancel(self, staff_user_id: int) -> None:
        if self.status != SCHEDULED:
            raise PreconditionFailed(
                f"maintenance window {self.id} is {self.status}; only a scheduled window can be cancelled"
            )
        self.status = CANCELLED
        self.version += 1
        self._record("maintenance.cancelled", staff_user_id)

    def advance(self, now: datetime) -> list[str]:
        """Move with the clock; the statuses it went through."""
        moved = []
        if self.status == SCHEDULED and now >= self.start_time:
            self.status = IN_PROGRESS
            self.version += 1
            self._record("maintenance.started", 0)
            moved.append(IN_PROGRESS)
        if self.status == IN_PROGRESS and now >= self.end_time:
            self.status = COMPLETED
            self.version += 1
            self._record("maintenance.completed", 0)
            moved.append(COMPLETED)
        return moved

    def _record(self, event_type: str, staff_user_id: int, fields: Sequence[str] = ()) -> None:
        self._emit(
            event_type,
            self.id,
            self.version,
            {
                "maintenance_window_id": self.id,
                "title": self.title,
                "type": self.type,
                "status": self.status,
                "start_time": self.start_time,
                "end_time": self.end_time,
                "affected_services": list(self.affected_services),
                "affected_datacenters": list(self.affected_datacenters),
                "fields": list(fields),
                "staff_user_id": staff_user_id,
            },
        )


def new_window(
    *,
    title: str,
    description: str,
    kind: str,
    services: Sequence[str],
    datacenters: Sequence[str],
    start: datetime,
    end: datetime,
    created_by: int | None,
    now: datetime,
) -> MaintenanceWindow:
    check_span(start, end, now)
    return MaintenanceWindow(
        id=0,
        title=check_title(title),
        description=check_description(description),
        type=check_choice("type", kind or "planned", TYPES),
        affected_services=check_services(services),
        affected_datacenters=check_datacenters(datacenters),
        start_time=start,
        end_time=end,
        created_by=created_by,
    )
