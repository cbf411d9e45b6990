"""Maintenance window use cases: staff schedule, change and cancel windows; anyone reads the
upcoming and current ones; the keeper moves them with the clock (one transaction per window)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cpshared.clock import utcnow
from cpshared.errors import NotFound
from cpshared.logging import get_logger
from support_service.domain.maintenance import (
    IN_PROGRESS,
    SCHEDULED,
    STATUSES,
    TYPES,
    MaintenanceWindow,
    check_datacenters,
    check_description,
    check_services,
    check_title,
    new_window,
)
from support_service.domain.tickets import check_choice
from support_service.service_layer.unit_of_work import SupportUnitOfWork, UnitOfWorkFactory

log = get_logger(__name__)
PUBLIC_STATUSES = (SCHEDULED, IN_PROGRESS)


@dataclass(frozen=True)
class NewWindow:
    title: str
    description: str
    type: str
    affected_services: Sequence[str]
    affected_datacenters: Sequence[str]
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True)
class WindowChange:
    title: str | None = None
    description: str | None = None
    type: str | None = None
    affected_services: Sequence[str] | None = None
    affected_datacenters: Sequence[str] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


def schedule(new: NewWindow, staff_user_id: int, uow: SupportUnitOfWork) -> MaintenanceWindow:
    now = utcnow()
    window = new_window(
        title=new.title,
        description=new.description,
        kind=new.type,
        services=new.affected_services,
        datacenters=new.affected_datacenters,
        start=new.start_time,
        end=new.end_time,
        created_by=staff_user_id or None,
        now=now,
    )
    with uow:
        uow.maintenance.add(window, now)
        window.scheduled(staff_user_id)
        uow.commit()
    log.info("maintenance_scheduled", maintenance_window_id=window.id)
    return window


def _window(window_id: int, uow: SupportUnitOfWork, *, for_update: bool = False) -> MaintenanceWindow:
    window = uow.maintenance.get(window_id, for_update=for_update)
    if window is None:
        raise NotFound(f"maintenance window {window_id} does not exist")
    return window


def get(window_id: int, uow: SupportUnitOfWork) -> MaintenanceWindow:
    with uow:
        return _window(window_id, uow)


def update(window_id: int, change: WindowChange, staff_user_id: int, uow: SupportUnitOfWork) -> MaintenanceWindow:
    now = utcnow()
    with uow:
        window = _window(window_id, uow, for_update=True)
        changed = window.update(
            staff_user_id,
            now=now,
            title=check_title(change.title) if change.title is not None else None,
            description=check_description(change.description) if change.description is not None else None,
            kind=check_choice("type", change.type, TYPES) if change.type is not None else None,
            services=check_services(change.affected_services) if change.affected_services is not None else None,
            datacenters=(
                check_datacenters(change.affected_datacenters) if change.affected_datacenters is not None else None
            ),
            start=change.start_time,
            end=change.end_time,
        )
        if changed:
            uow.maintenance.save(window, now)
            uow.commit()
    return window


def cancel(window_id: int, staff_user_id: int, uow: SupportUnitOfWork) -> MaintenanceWindow:
    now = utcnow()
    with uow:
        window = _window(window_id, uow, for_update=True)
        window.cancel(staff_user_id)
        uow.maintenance.save(window, now)
        uow.commit()
    return window


def search(
    statuses: Sequence[str], uow: SupportUnitOfWork, *, public: bool, page: int, per_page: int
) -> tuple[list[MaintenanceWindow], int]:
    """The public list (scheduled and running, soonest first) or staff's (any status, newest first)."""
    for status in statuses:
        check_choice("status", status, STATUSES)
    wanted = PUBLIC_STATUSES if public else tuple(statuses)
    with uow:
        return uow.maintenance.search(
            wanted, upcoming_first=public, offset=(max(page, 1) - 1) * per_page, limit=per_page
        )


def advance(uows: UnitOfWorkFactory, *, batch: int = 200) -> list[tuple[int, str]]:
    """Start the windows whose start has come and complete those whose end has; what moved."""
    now = utcnow()
    with uows() as uow:
        due = uow.maintenance.due(now, batch)
    moved: list[tuple[int, str]] = []
    for window_id in due:
        with uows() as uow:
            window = uow.maintenance.get(window_id, for_update=True)
            if window is None:
                continue
            statuses = window.advance(now)
            if statuses:
                uow.maintenance.save(window, now)
                uow.commit()
                moved.extend((window_id, status) for status in statuses)
    if moved:
        log.info("maintenance_advanced", moved=len(moved))
    return moved
