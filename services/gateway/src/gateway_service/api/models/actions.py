"""Hetzner's action object, shared by every family whose changes are actions (servers, images,
volumes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel

from cloudplatform.storage.v1 import volume_service_pb2 as storage_pb

ActionStatus = Literal["running", "success", "error"]


class ActionError(BaseModel):
    code: str
    message: str


class ActionResourceOut(BaseModel):
    id: int
    type: str


class ActionOut(BaseModel):
    id: int
    command: str
    status: Literal["running", "success", "error"]
    progress: int
    started: datetime
    finished: datetime | None
    resources: list[ActionResourceOut]
    error: ActionError | None


def as_datetime(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def volume_action_out(action: storage_pb.VolumeAction) -> ActionOut:
    """A storage action (about a volume, and the server it attaches to or detaches from)."""
    resources = [ActionResourceOut(id=action.volume_id, type="volume")]
    if action.server_id:
        resources.append(ActionResourceOut(id=action.server_id, type="server"))
    status: ActionStatus = action.status if action.status in ("running", "success", "error") else "running"  # type: ignore[assignment]
    return ActionOut(
        id=action.id,
        command=action.command,
        status=status,
        progress=action.progress,
        started=as_datetime(action.started),
        finished=as_datetime(action.finished) if action.HasField("finished") else None,
        resources=resources,
        error=ActionError(code=action.error_code, message=action.error_message) if action.status == "error" else None,
    )
