"""Volumes upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream volume carries the label ``cp_volume_id=<platform id>`` and is named
``cp-volume-<platform id>`` (upstream names are unique per project, tenants' names are not):
the label, not a remembered upstream id, is how the worker finds what it made. Servers are
found by compute's label ``cp_server_id``. Retries and refusals follow the one policy of
``cpshared.upstream``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from hcloud import APIException
from hcloud.images import BoundImage
from hcloud.locations import Location
from hcloud.servers import BoundServer
from hcloud.volumes import BoundVolume

from cpshared import upstream as hetzner_upstream
from cpshared.errors import Unavailable
from cpshared.upstream import IMAGE_LABEL, SERVER_LABEL, RetryPolicy
from storage_service.domain.backups import UpstreamBackup
from storage_service.domain.volumes import UpstreamFailure
from storage_service.service_layer.ports import UpstreamStorage, UpstreamVolume, VolumeSpec

T = TypeVar("T")
APPLICATION = "cloudplatform-storage"
VOLUME_LABEL = "cp_volume_id"


def read_token(token_file: str) -> str:
    if not token_file:
        raise Unavailable("no upstream token: set CP_HCLOUD_TOKEN_FILE to a file holding the Hetzner API token")
    try:
        token = Path(token_file).read_text().strip()
    except OSError as exc:
        raise Unavailable(f"CP_HCLOUD_TOKEN_FILE {token_file}: cannot read the upstream token: {exc}") from exc
    if not token:
        raise Unavailable(f"CP_HCLOUD_TOKEN_FILE {token_file} is empty")
    return token


def _volume(bound: BoundVolume) -> UpstreamVolume:
    labels = dict(bound.labels or {})
    raw = labels.get(VOLUME_LABEL, "")
    server = bound.server
    return UpstreamVolume(
        id=int(bound.id or 0),
        status=str(bound.status or "unknown"),
        size_gb=int(bound.size or 0),
        server_id=int(server.id) if server is not None and server.id else None,
        platform_id=int(raw) if raw.isdigit() else None,
        labels=labels,
    )


def _backup(image: BoundImage) -> UpstreamBackup | None:
    bound_to = image.bound_to
    if bound_to is None or not bound_to.id or image.created is None:
        return None
    size = image.image_size
    return UpstreamBackup(
        hetzner_id=int(image.id or 0),
        upstream_server_id=int(bound_to.id),
        description=str(image.description or ""),
        status=str(image.status or ""),
        size_gb=Decimal(str(size)).quantize(Decimal("0.01")) if size is not None else None,
        created=image.created.astimezone(UTC),
        manual=IMAGE_LABEL in (image.labels or {}),
    )


class HcloudVolumes(UpstreamStorage):
    """Volumes and servers' backup images upstream."""

    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hetzner_upstream.hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return hetzner_upstream.call_upstream(what, call, self.retry, UpstreamFailure)

    def _bound(self, upstream_id: int) -> BoundVolume:
        return BoundVolume(self.client.volumes, {"id": upstream_id})

    def find(self, platform_id: int) -> list[UpstreamVolume]:
        found = self._call(
            "list volumes", lambda: self.client.volumes.get_all(label_selector=f"{VOLUME_LABEL}={platform_id}")
        )
        return sorted((_volume(found_volume) for found_volume in found), key=lambda volume: volume.id)

    def labelled(self) -> list[UpstreamVolume]:
        found = self._call("list volumes", lambda: self.client.volumes.get_all(label_selector=VOLUME_LABEL))
        return sorted((_volume(found_volume) for found_volume in found), key=lambda volume: volume.id)

    def create(self, spec: VolumeSpec) -> tuple[UpstreamVolume, int]:
        """Made (labelled) unless upstream has it already: then adopted, with no action."""

        def find_or_create() -> tuple[UpstreamVolume, int]:
            found = self.client.volumes.get_all(label_selector=f"{VOLUME_LABEL}={spec.platform_id}")
            if found:
                return _volume(sorted(found, key=lambda volume: int(volume.id or 0))[0]), 0
            made = self.client.volumes.create(
                size=spec.size_gb,
                name=f"cp-volume-{spec.platform_id}",
                location=Location(name=spec.location),
                format=spec.fmt or None,
                labels={VOLUME_LABEL: str(spec.platform_id)},  # type: ignore[arg-type]  # hcloud types it str, sends a dict
            )
            return _volume(made.volume), int(made.action.id or 0) if made.action else 0

        return self._call("create a volume", find_or_create)

    def upstream_server_id(self, platform_server_id: int) -> int | None:
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_server_id}"),
        )
        ids = sorted(int(server.id or 0) for server in found)
        return ids[0] if ids else None

    def attach(self, upstream_id: int, upstream_server_id: int, automount: bool) -> int:
        action = self._call(
            "attach a volume",
            lambda: self.client.volumes.attach(
                self._bound(upstream_id), BoundServer(self.client.servers, {"id": upstream_server_id}), automount
            ),
        )
        return int(action.id or 0)

    def detach(self, upstream_id: int) -> int:
        action = self._call("detach a volume", lambda: self.client.volumes.detach(self._bound(upstream_id)))
        return int(action.id or 0)

    def resize(self, upstream_id: int, size_gb: int) -> int:
        action = self._call("resize a volume", lambda: self.client.volumes.resize(self._bound(upstream_id), size_gb))
        return int(action.id or 0)

    def delete(self, upstream_id: int) -> None:
        """Delete it; one that is gone already is no error."""

        def delete_once() -> None:
            try:
                self.client.volumes.delete(self._bound(upstream_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete a volume", delete_once)

    def backups(self) -> list[UpstreamBackup]:
        found = self._call("list backup images", lambda: self.client.images.get_all(type=["backup"]))
        return [backup for backup in (_backup(image) for image in found) if backup is not None]

    def delete_image(self, hetzner_id: int) -> None:
        def delete_once() -> None:
            try:
                self.client.images.delete(BoundImage(self.client.images, {"id": hetzner_id}))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete an image", delete_once)

    def wait(self, action_id: int) -> None:
        hetzner_upstream.wait_for_action(self.client, action_id, self.retry, UpstreamFailure)
