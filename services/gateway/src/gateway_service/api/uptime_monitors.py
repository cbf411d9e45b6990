"""``/v1/uptime_monitors``: the tenant's uptime monitors, kept and checked by the monitoring
service (not a Hetzner family: the platform's own, in Hetzner's conventions of errors,
pagination and sorting).

- ``GET /v1/uptime_monitors``: the caller's monitors (with a key bound to an organization, that
  organization's too), sorted by ``id``, ``name`` or ``created``, paged.
- ``POST /v1/uptime_monitors`` (``name``; ``type`` http, https, tcp or ping; ``target`` a host
  name or an IP address; ``port``, 80/443 by default for http/https, required for tcp, none for
  ping; ``interval_seconds`` 30 to 86400, 60 by default; ``timeout_seconds`` 1 to 60 and at most
  the interval, 30 by default; ``regions``, the checker locations, every one by default;
  ``enabled``; ``notification_channels`` as alert rules take them). Bad input is ``400
  invalid_input`` naming the field, nothing made.
- ``GET``/``PUT``/``DELETE /v1/uptime_monitors/{id}``: one monitor the caller reaches (its status,
  failures in a row, last and next check, an https target's certificate expiry).
- ``GET /v1/uptime_monitors/{id}/results`` (``since``, ``limit`` 1 to 500): its checks, newest first.
- ``GET /v1/uptime_monitors/{id}/uptime``: the share of passed checks over 24 h, 7 d and 30 d.

Scopes ``uptime_monitors:read`` and ``uptime_monitors:write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from cloudplatform.monitoring.v1 import alert_rule_service_pb2 as rules_pb
from cloudplatform.monitoring.v1 import uptime_monitor_service_pb2 as pb
from gateway_service.api.common import MAX_ID, Meta, one_page, sort_items, tenant
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import scope
from gateway_service.clients.backends import backends
from hetzner_conventions.pagination import MAX_PAGE, MAX_PER_PAGE, parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/uptime_monitors", tags=["uptime_monitors"])

SORTABLE = ("id", "name", "created")
MonitorId = Annotated[int, Path(ge=1, le=MAX_ID, description="ID of the uptime monitor.")]
MonitorType = Literal["http", "https", "tcp", "ping"]
INT32 = 2**31 - 1


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=20, description="email, webhook or in_app.")
    target: str = Field(default="", max_length=2048, description="The address (email) or http(s) URL (webhook).")


class ChannelOut(BaseModel):
    type: str
    target: str | None


class UptimeMonitorOut(BaseModel):
    id: int
    name: str
    type: str
    target: str
    port: int | None
    interval_seconds: int
    timeout_seconds: int
    regions: list[str]
    enabled: bool
    notification_channels: list[ChannelOut]
    status: str = Field(description="unknown (not checked yet), up or down.")
    consecutive_failures: int
    down_since: datetime | None
    last_checked: datetime | None
    next_check: datetime | None
    certificate_expires: datetime | None = Field(description="https: the target's certificate expiry.")
    created: datetime
    updated: datetime


class UptimeMonitorAnswer(BaseModel):
    uptime_monitor: UptimeMonitorOut


class UptimeMonitorsAnswer(BaseModel):
    uptime_monitors: list[UptimeMonitorOut]
    meta: Meta


class NewUptimeMonitor(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    type: MonitorType
    target: str = Field(min_length=1, max_length=255, description="A host name or an IP address.")
    port: StrictInt | None = Field(default=None, ge=-INT32, le=INT32, description="1 to 65535; none for ping.")
    interval_seconds: StrictInt = Field(default=60, ge=-INT32, le=INT32, description="30 to 86400.")
    timeout_seconds: StrictInt = Field(default=30, ge=-INT32, le=INT32, description="1 to 60, at most the interval.")
    regions: list[str] = Field(default_factory=list, max_length=20, description="Empty: every checker location.")
    enabled: bool = True
    notification_channels: list[ChannelIn] = Field(default_factory=list, max_length=100)


class UptimeMonitorChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    target: str | None = Field(default=None, min_length=1, max_length=255)
    port: StrictInt | None = Field(default=None, ge=-INT32, le=INT32)
    interval_seconds: StrictInt | None = Field(default=None, ge=-INT32, le=INT32)
    timeout_seconds: StrictInt | None = Field(default=None, ge=-INT32, le=INT32)
    regions: list[str] | None = Field(default=None, max_length=20)
    enabled: bool | None = None
    notification_channels: list[ChannelIn] | None = Field(default=None, max_length=100)


class ResultOut(BaseModel):
    region: str
    checked: datetime
    success: bool
    latency_ms: int | None
    status_code: int | None
    error: str | None
    certificate_expires: datetime | None


class ResultsAnswer(BaseModel):
    results: list[ResultOut]


class UptimeWindowOut(BaseModel):
    percent: float | None = Field(description="Passed checks in percent; null without a check in the window.")
    checks: int


class UptimeAnswer(BaseModel):
    uptime: dict[str, UptimeWindowOut] = Field(description="By window: 24h, 7d and 30d.")


def _channels(channels: list[ChannelIn]) -> list[rules_pb.NotificationChannel]:
    return [rules_pb.NotificationChannel(type=c.type, target=c.target) for c in channels]


def _time(message: Any, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(UTC) if message.HasField(name) else None


def monitor_out(m: pb.UptimeMonitor) -> UptimeMonitorOut:
    created, updated = _time(m, "created_at"), _time(m, "updated_at")
    assert created is not None and updated is not None
    return UptimeMonitorOut(
        id=m.id,
        name=m.name,
        type=m.type,
        target=m.target,
        port=m.port or None,
        interval_seconds=m.interval_seconds,
        timeout_seconds=m.timeout_seconds,
        regions=list(m.regions),
        enabled=m.enabled,
        notification_channels=[ChannelOut(type=c.type, target=c.target or None) for c in m.channels],
        status=m.status,
        consecutive_failures=m.consecutive_failures,
        down_since=_time(m, "down_since"),
        last_checked=_time(m, "last_checked_at"),
        next_check=_time(m, "next_check_at"),
        certificate_expires=_time(m, "certificate_expires_at"),
        created=created,
        updated=updated,
    )


def _port(port: int) -> int:
    """A port as monitoring takes it: 0 there means "the type's default", so 0 or below sent as
    given is sent as -1 (refused, naming the field)."""
    return port if port > 0 else -1


def _sort_value(m: pb.UptimeMonitor, field: str) -> Any:
    if field == "created":
        return (m.created_at.seconds, m.created_at.nanos, m.id)
    return getattr(m, field)


@router.get("")
@scope(Family.UPTIME_MONITORS, Access.READ)
async def list_uptime_monitors(
    request: Request,
    response: Response,
    principal: Authenticated,
    sort: Annotated[list[str] | None, Query(description="id, name or created, optionally :asc or :desc.")] = None,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="The page, 1 by default.")] = None,
    per_page: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description=f"Entries per page, 1 to {MAX_PER_PAGE}; more is served as {MAX_PER_PAGE}."),
    ] = None,
) -> UptimeMonitorsAnswer:
    """The caller's uptime monitors, one page of them."""
    page_request = parse_page_request(
        str(page) if page is not None else None, str(per_page) if per_page is not None else None
    )
    sort_keys = parse_sort(sort or [], SORTABLE)
    monitors = await backends(request).uptime_monitors.list(*tenant(principal))
    shown, meta = one_page(request, response, sort_items(monitors, sort_keys, _sort_value), page_request)
    return UptimeMonitorsAnswer(uptime_monitors=[monitor_out(m) for m in shown], meta=meta)


@router.post("", status_code=201)
@scope(Family.UPTIME_MONITORS, Access.WRITE)
async def create_uptime_monitor(
    request: Request, principal: Authenticated, body: NewUptimeMonitor
) -> UptimeMonitorAnswer:
    """A new uptime monitor in the caller's tenant."""
    user_id, organization_id = tenant(principal)
    monitor = await backends(request).uptime_monitors.create(
        pb.CreateUptimeMonitorRequest(
            user_id=user_id,
            organization_id=organization_id,
            name=body.name,
            type=body.type,
            target=body.target,
            port=_port(body.port) if body.port is not None else 0,
            interval_seconds=body.interval_seconds,
            timeout_seconds=body.timeout_seconds,
            regions=body.regions,
            enabled=body.enabled,
            channels=_channels(body.notification_channels),
        )
    )
    return UptimeMonitorAnswer(uptime_monitor=monitor_out(monitor))


@router.get("/{id}")
@scope(Family.UPTIME_MONITORS, Access.READ)
async def get_uptime_monitor(request: Request, principal: Authenticated, id: MonitorId) -> UptimeMonitorAnswer:
    """One uptime monitor the caller reaches."""
    monitor = await backends(request).uptime_monitors.get(id, tenant(principal)[1])
    return UptimeMonitorAnswer(uptime_monitor=monitor_out(monitor))


@router.put("/{id}")
@scope(Family.UPTIME_MONITORS, Access.WRITE)
async def update_uptime_monitor(
    request: Request, principal: Authenticated, id: MonitorId, body: UptimeMonitorChange
) -> UptimeMonitorAnswer:
    """Change the fields the body gives (``regions`` and ``notification_channels`` replace)."""
    change = pb.UpdateUptimeMonitorRequest(uptime_monitor_id=id, organization_id=tenant(principal)[1])
    if body.name is not None:
        change.name = body.name
    if body.target is not None:
        change.target = body.target
    if body.port is not None:
        change.port = _port(body.port)
    if body.interval_seconds is not None:
        change.interval_seconds = body.interval_seconds
    if body.timeout_seconds is not None:
        change.timeout_seconds = body.timeout_seconds
    if body.regions is not None:
        change.regions.CopyFrom(pb.RegionList(regions=body.regions))
    if body.enabled is not None:
        change.enabled = body.enabled
    if body.notification_channels is not None:
        change.channels.CopyFrom(rules_pb.ChannelList(channels=_channels(body.notification_channels)))
    monitor = await backends(request).uptime_monitors.update(change)
    return UptimeMonitorAnswer(uptime_monitor=monitor_out(monitor))


@router.delete("/{id}", status_code=204)
@scope(Family.UPTIME_MONITORS, Access.WRITE)
async def delete_uptime_monitor(request: Request, principal: Authenticated, id: MonitorId) -> Response:
    """Delete an uptime monitor and its results."""
    await backends(request).uptime_monitors.delete(id, tenant(principal)[1])
    return Response(status_code=204)


@router.get("/{id}/results")
@scope(Family.UPTIME_MONITORS, Access.READ)
async def list_uptime_results(
    request: Request,
    principal: Authenticated,
    id: MonitorId,
    since: Annotated[
        datetime | None, Query(description="Checks from then on (ISO 8601); default the last 24 h.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, newest first.")] = 100,
) -> ResultsAnswer:
    """The monitor's check results, newest first."""
    request_pb = pb.ListUptimeResultsRequest(uptime_monitor_id=id, organization_id=tenant(principal)[1], limit=limit)
    if since is not None:
        stamp = Timestamp()
        stamp.FromDatetime(since if since.tzinfo else since.replace(tzinfo=UTC))
        request_pb.since.CopyFrom(stamp)
    results = await backends(request).uptime_monitors.results(request_pb)
    return ResultsAnswer(
        results=[
            ResultOut(
                region=r.region,
                checked=r.checked_at.ToDatetime(UTC),
                success=r.success,
                latency_ms=r.latency_ms if r.HasField("latency_ms") else None,
                status_code=r.status_code if r.HasField("status_code") else None,
                error=r.error or None,
                certificate_expires=_time(r, "certificate_expires_at"),
            )
            for r in results
        ]
    )


@router.get("/{id}/uptime")
@scope(Family.UPTIME_MONITORS, Access.READ)
async def get_uptime(request: Request, principal: Authenticated, id: MonitorId) -> UptimeAnswer:
    """The share of passed checks over the last 24 hours, 7 days and 30 days."""
    windows = await backends(request).uptime_monitors.uptime(id, tenant(principal)[1])
    return UptimeAnswer(
        uptime={
            w.window: UptimeWindowOut(percent=w.percent if w.HasField("percent") else None, checks=w.checks)
            for w in windows
        }
    )
