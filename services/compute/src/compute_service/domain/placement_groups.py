"""Placement groups (Hetzner's, type ``spread``): a tenant's named group of servers that
upstream runs on different physical hosts.

Hetzner's rules: the only type is ``spread``; a spread group holds at most 10 servers; a server
is in at most one group and joins an existing one only while it is off (``server_not_stopped``);
a group that still has servers cannot be deleted (``resource_in_use``). The group exists
upstream once a server needs it there (labelled with the platform's id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from compute_service.domain.aggregate import Aggregate
from cpshared.errors import InvalidInput, LimitExceeded, PreconditionFailed

TYPES: Final = ("spread",)
MAX_SERVERS: Final = 10
MAX_NAME: Final = 255

ADD: Final = "add_to_placement_group"
REMOVE: Final = "remove_from_placement_group"
COMMANDS: Final = frozenset({ADD, REMOVE})


class InUse(PreconditionFailed):
    """The resource is still used by another (Hetzner: 422 resource_in_use)."""

    code = "resource_in_use"


def field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"name": name, "messages": [message]}]})


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise field_error("name", f"name must be 1 to {MAX_NAME} characters")
    return name


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise field_error("type", f"type {kind!r} is unknown; use one of {', '.join(TYPES)}")
    return kind


@dataclass
class PlacementGroup(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    type: str
    labels: dict[str, str] = field(default_factory=dict)
    hetzner_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    # The live servers in it (read with the group).
    server_ids: list[int] = field(default_factory=list)

    def ensure_room_for_one(self) -> None:
        if len(self.server_ids) >= MAX_SERVERS:
            raise LimitExceeded(
                f"placement group {self.id} contains already {MAX_SERVERS} servers; "
                "a spread group holds at most that many"
            )

    def ensure_empty(self) -> None:
        if self.server_ids:
            raise InUse(
                f"placement group {self.id} still has servers ({', '.join(map(str, self.server_ids))}); "
                "remove them from it first"
            )

    def same_tenant(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id is not None:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def created(self) -> None:
        """Record the group, once the repository gave it its id."""
        self._record("placement_group.created", name=self.name, type=self.type, labels=dict(self.labels))

    def update(self, name: str | None, labels: dict[str, str] | None) -> list[str]:
        """Rename and relabel (values already checked); the fields that changed."""
        fields = []
        if name is not None and name != self.name:
            self.name = name
            fields.append("name")
        if labels is not None and labels != self.labels:
            self.labels = labels
            fields.append("labels")
        if fields:
            self.version += 1
            self._record("placement_group.updated", fields=fields, name=self.name, labels=dict(self.labels))
        return fields

    def delete(self) -> None:
        """Only an empty group goes (``resource_in_use`` otherwise)."""
        self.ensure_empty()
        self.version += 1
        self._record("placement_group.deleted")

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"placement_group_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})
