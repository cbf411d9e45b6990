"""The request and response models of the servers API (Hetzner's shapes), and of the actions
the servers, images and the tenant's action list answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway_service.api.common import BodyId, Labels, Meta, Text
from gateway_service.api.models.actions import ActionError as ActionError
from gateway_service.api.models.actions import ActionOut as ActionOut
from gateway_service.api.models.actions import ActionResourceOut as ActionResourceOut
from gateway_service.api.models.catalog import DatacenterOut, ImageOut, LocationOut, ServerTypeOut
from gateway_service.api.models.placement_groups import PlacementGroupOut

HetznerStatus = Literal[
    "deleting", "initializing", "migrating", "off", "rebuilding", "running", "starting", "stopping", "unknown"
]


class Ipv4Out(BaseModel):
    id: int
    ip: str
    blocked: bool
    dns_ptr: str


class Ipv6Out(BaseModel):
    id: int
    ip: str
    blocked: bool
    dns_ptr: list[dict[str, str]]


class PublicNetOut(BaseModel):
    ipv4: Ipv4Out | None
    ipv6: Ipv6Out | None
    floating_ips: list[int]
    firewalls: list[dict[str, Any]]


class IsoOut(BaseModel):
    id: int
    name: str | None
    description: str
    type: Literal["public", "private"] | None
    architecture: Literal["x86", "arm"] | None
    deprecation: None = None


class ProtectionOut(BaseModel):
    delete: bool
    rebuild: bool


class ServerOut(BaseModel):
    id: int
    name: str
    status: HetznerStatus
    created: datetime
    public_net: PublicNetOut
    private_net: list[dict[str, Any]]
    server_type: ServerTypeOut
    datacenter: DatacenterOut
    location: LocationOut
    image: ImageOut | None
    iso: IsoOut | None
    rescue_enabled: bool
    locked: bool
    backup_window: str | None
    outgoing_traffic: int | None
    ingoing_traffic: int | None
    included_traffic: int
    protection: ProtectionOut
    labels: dict[str, str]
    volumes: list[int]
    load_balancers: list[int]
    primary_disk_size: int
    placement_group: PlacementGroupOut | None = Field(default=None, description="The placement group it is in.")


class ServerAnswer(BaseModel):
    server: ServerOut


class ServersAnswer(BaseModel):
    servers: list[ServerOut]
    meta: Meta


class CreatedServerAnswer(BaseModel):
    server: ServerOut
    action: ActionOut
    next_actions: list[ActionOut]
    root_password: str | None = Field(
        description="Root password of a server created without SSH keys, shown this once (only a hash is kept); "
        "null with SSH keys."
    )


class ActionAnswer(BaseModel):
    action: ActionOut


class ActionsAnswer(BaseModel):
    actions: list[ActionOut]
    meta: Meta


class RebuildAnswer(BaseModel):
    action: ActionOut
    root_password: str | None = Field(
        description="New root password when the server has no SSH keys, shown this once (only a hash is kept)."
    )


class RescueAnswer(BaseModel):
    action: ActionOut
    root_password: str = Field(description="The rescue system's root password, shown this once; stored nowhere.")


class CreatedImageAnswer(BaseModel):
    image: ImageOut
    action: ActionOut


class RebuildBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image: str | BodyId = Field(description="ID or name of the image to rebuild from.")


class ChangeTypeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server_type: str | BodyId = Field(description="ID or name of the server type to change to.")
    upgrade_disk: bool = Field(description="If false, the disk keeps its size (a later downgrade stays possible).")


class EnableRescueBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["linux64"] | None = Field(default="linux64", description="linux64 (the default when null).")
    ssh_keys: list[BodyId] | None = Field(default=None, description="IDs of SSH keys to inject.")


class CreateImageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["snapshot", "backup"] | None = Field(default="snapshot", description="snapshot when null.")
    description: Text | None = Field(default=None, max_length=1000)
    labels: Labels | None = None


class ServerFirewallRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    firewall: BodyId = Field(description="ID of the firewall.")


MAX_FIREWALLS_PER_SERVER = 5
"""Hetzner's limit of firewalls on one server."""


class NewServer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    server_type: str | BodyId = Field(description="Name or ID of the server type.")
    image: str | BodyId = Field(description="Name or ID of the image.")
    location: str | BodyId | None = Field(default=None, description="Name or ID of the location.")
    datacenter: str | BodyId | None = Field(default=None, description="Name or ID of the datacenter.")
    ssh_keys: list[str | BodyId] = Field(default_factory=list, description="Names or IDs of SSH keys.")
    user_data: str = Field(default="", max_length=32_768)
    labels: Labels = Field(default_factory=dict)
    start_after_create: bool = Field(default=True, description="Start the server once created (false: it stays off).")
    placement_group: BodyId | None = Field(
        default=None, description="ID of the tenant's placement group to create it in."
    )
    firewalls: list[ServerFirewallRef] = Field(
        default_factory=list,
        max_length=50,
        description="Firewalls of the tenant applied to it at creation (at most 5).",
    )


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    labels: Labels | None = None


class MetricsValues(BaseModel):
    values: list[tuple[float, str]]


class MetricsOut(BaseModel):
    start: datetime
    end: datetime
    step: int = Field(description="Seconds between two values.")
    time_series: dict[str, MetricsValues]


class MetricsAnswer(BaseModel):
    metrics: MetricsOut


class AttachIsoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    iso: str | BodyId = Field(description="ID or name of the ISO to attach.")


class ChangeProtectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    delete: bool | None = Field(default=None, description="Protect against deletion (the same value as rebuild).")
    rebuild: bool | None = Field(default=None, description="Protect against rebuilding (the same value as delete).")


class ChangeDnsPtrBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ip: str = Field(max_length=45, description="The server's IPv4 address, or an address in its IPv6 network.")
    dns_ptr: str | None = Field(max_length=255, description="The reverse DNS name; null resets it.")


class ConsoleAnswer(BaseModel):
    action: ActionOut
    wss_url: str = Field(
        description=(
            "Websocket URL of the platform's VNC proxy with a single-use ticket valid one minute, shown this once."
        )
    )
    password: str = Field(description="VNC password for that URL, shown this once; stored nowhere.")


class PasswordAnswer(BaseModel):
    action: ActionOut
    root_password: str = Field(description="The new root password, shown this once; only a hash is kept.")


class AddToPlacementGroupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    placement_group: BodyId = Field(description="ID of the placement group to add the server to.")
