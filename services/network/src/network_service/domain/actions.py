"""Network's actions (Hetzner's vocabulary: ``create_floating_ip``, ``assign_floating_ip`` …):
a change a tenant started that network's worker carries out upstream, or one finished at once.

An action is ``running`` until its resource's method ends it (``finish`` or ``fail``). Network's
action ids start at :data:`FIRST_ID` (the table's AUTO_INCREMENT), apart from compute's, so
``GET /v1/actions/{id}`` names one action of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cpshared.action_ids import NETWORK_FIRST_ACTION_ID
from cpshared.errors import PreconditionFailed

RUNNING: Final = "running"
SUCCESS: Final = "success"
ERROR: Final = "error"
FIRST_ID: Final = NETWORK_FIRST_ACTION_ID


class Locked(PreconditionFailed):
    """Another action is running on the resource (Hetzner: 423 locked)."""

    code = "locked"


class Protected(PreconditionFailed):
    """The resource is protected against this change (Hetzner: 423 protected)."""

    code = "protected"


class UpstreamFailure(Exception):
    """Upstream refused or failed an action for good (retrying will not help)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Action:
    id: int
    command: str
    status: str
    resource_type: str
    resource_id: int
    user_id: int
    organization_id: int | None
    params: dict[str, Any] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    progress: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    upstream_action_id: int | None = None

    def finish(self, now: datetime) -> None:
        self.status, self.progress, self.finished = SUCCESS, 100, now

    def fail(self, code: str, message: str, now: datetime) -> None:
        self.status, self.progress, self.finished = ERROR, 100, now
        self.error_code, self.error_message = code, message
