"""Servers upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client.

Every upstream server carries the label ``cp_server_id=<platform id>``: that label, not a
remembered upstream id, is how the worker finds what it made, so a worker that died between
"upstream created it" and "we recorded it" finds it again instead of making a second one.

Transient failures (5xx, 429, timeouts, dropped connections) are retried with the platform's one
retry policy (:func:`cpshared.upstream.call_upstream`; hcloud's own retries are switched off:
it would resend a timed-out POST without looking for what the first one made).
What retrying cannot fix raises :class:`UpstreamFailure` with upstream's code and message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from hcloud import APIException
from hcloud.actions import BoundAction
from hcloud.images import Image
from hcloud.isos import Iso
from hcloud.locations import Location
from hcloud.placement_groups import PlacementGroup
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer
from hcloud.ssh_keys import SSHKey

from compute_service.adapters.upstream import APPLICATION
from compute_service.domain.servers import UpstreamFailure
from compute_service.service_layer.ports import CreateSpec, UpstreamServer, UpstreamServers, UpstreamSnapshot
from cpshared.upstream import IMAGE_LABEL, SERVER_LABEL, call_upstream, hcloud_client, wait_for_action
from cpshared.upstream import RetryPolicy as RetryPolicy  # the policy its callers pass

SSH_KEY_LABEL = "cp_ssh_key_id"
PLACEMENT_GROUP_LABEL = "cp_placement_group_id"
T = TypeVar("T")


def _server(bound: BoundServer) -> UpstreamServer:
    labels = dict(bound.labels or {})
    raw = labels.get(SERVER_LABEL, "")
    public = bound.public_net
    return UpstreamServer(
        id=int(bound.id or 0),
        status=str(bound.status or "unknown"),
        platform_id=int(raw) if raw.isdigit() else None,
        ipv4=public.ipv4.ip if public is not None and public.ipv4 is not None else None,
        ipv6_network=public.ipv6.network + "/" + str(public.ipv6.network_mask)
        if public is not None and public.ipv6 is not None and public.ipv6.network
        else None,
        labels=labels,
    )


class HcloudServers(UpstreamServers):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.client = hcloud_client(endpoint, token, APPLICATION, timeout=timeout)
        self.retry = retry or RetryPolicy()

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call`` with transient failures retried; a lasting one is Unavailable, a refusal UpstreamFailure."""
        return call_upstream(what, call, self.retry, UpstreamFailure)

    def find(self, platform_id: int) -> list[UpstreamServer]:
        """Upstream servers labelled with ``platform_id``, oldest first."""
        found = self._call(
            "list servers",
            lambda: self.client.servers.get_all(label_selector=f"{SERVER_LABEL}={platform_id}"),
        )
        return sorted((_server(s) for s in found), key=lambda s: s.id)

    def labelled(self) -> list[UpstreamServer]:
        """Every upstream server that carries a platform id."""
        found = self._call("list servers", lambda: self.client.servers.get_all(label_selector=SERVER_LABEL))
        return sorted((_server(s) for s in found), key=lambda s: s.id)

    def get(self, upstream_id: int) -> UpstreamServer:
        return _server(self._call("read a server", lambda: self.client.servers.get_by_id(upstream_id)))

    def ensure_ssh_key(self, ssh_key_id: int, public_key: str) -> int:
        """The upstream id of the platform's SSH key, added (labelled) when upstream lacks it."""

        def find_or_add() -> int:
            found = self.client.ssh_keys.get_all(label_selector=f"{SSH_KEY_LABEL}={ssh_key_id}")
            if found:
                return int(found[0].id or 0)
            try:
                made = self.client.ssh_keys.create(
                    name=f"cp-ssh-key-{ssh_key_id}", public_key=public_key, labels={SSH_KEY_LABEL: str(ssh_key_id)}
                )
            except APIException as exc:
                if exc.code != "uniqueness_error":
                    raise
                # The same key added by another tenant's server: upstream keys are unique by fingerprint.
                same = [
                    k
                    for k in self.client.ssh_keys.get_all()
                    if (k.public_key or "").split()[:2] == public_key.split()[:2]
                ]
                if not same:
                    raise
                return int(same[0].id or 0)
            return int(made.id or 0)

        return self._call("add an SSH key", find_or_add)

    def create(self, spec: CreateSpec) -> tuple[UpstreamServer, int]:
        """Create the server unless upstream has one with its label already (then adopt it):
        safe to call again after any failure. Answers the server and the action to wait for (0: none)."""
        made, action, _ = self.create_with_password(spec)
        return made, action

    def create_with_password(self, spec: CreateSpec) -> tuple[UpstreamServer, int, str]:
        """As :meth:`create`, with the root password upstream made (created without SSH keys; to
        hand on once, never to keep in clear). Empty when given SSH keys or when adopted."""

        def find_or_create() -> tuple[UpstreamServer, int, str]:
            existing = self.find(spec.platform_id)
            if existing:
                return existing[0], 0, ""
            answer = self.client.servers.create(
                name=spec.name,
                server_type=ServerType(name=spec.server_type),
                image=Image(id=spec.image_id) if spec.image_id else Image(name=spec.image),
                location=Location(name=spec.location),
                ssh_keys=[SSHKey(id=key_id) for key_id in spec.ssh_key_ids] or None,
                user_data=spec.user_data or None,
                labels={**spec.labels, SERVER_LABEL: str(spec.platform_id)},
                start_after_create=spec.start_after_create,
                placement_group=PlacementGroup(id=spec.placement_group_id) if spec.placement_group_id else None,
            )
            action = int(answer.action.id or 0) if answer.action else 0
            return _server(answer.server), action, str(answer.root_password or "")

        return self._call("create a server", find_or_create)

    def wait(self, action_id: int, *, poll_seconds: float = 0.2, limit_seconds: float = 600.0) -> None:
        """Until the upstream action has finished; UpstreamFailure when it ended in error."""
        wait_for_action(
            self.client, action_id, self.retry, UpstreamFailure, poll_seconds=poll_seconds, limit_seconds=limit_seconds
        )

    def wait_a_moment(self, seconds: float = 0.2) -> None:
        time.sleep(seconds)

    def power_on(self, upstream_id: int) -> int:
        return self._action(
            "power on a server",
            lambda: self.client.servers.power_on(BoundServer(self.client.servers, {"id": upstream_id})),
        )

    def power_off(self, upstream_id: int) -> int:
        return self._action(
            "power off a server",
            lambda: self.client.servers.power_off(BoundServer(self.client.servers, {"id": upstream_id})),
        )

    def reboot(self, upstream_id: int) -> int:
        return self._action(
            "reboot a server", lambda: self.client.servers.reboot(BoundServer(self.client.servers, {"id": upstream_id}))
        )

    def delete(self, upstream_id: int) -> int:
        """Delete it; an upstream server that is gone already is no error (answers 0)."""

        def delete_once() -> int:
            try:
                action = self.client.servers.delete(BoundServer(self.client.servers, {"id": upstream_id}))
            except APIException as exc:
                if exc.code == "not_found":
                    return 0
                raise
            return int(action.id or 0)

        return self._call("delete a server", delete_once)

    # -- placement groups: upstream's group of a platform group, found by its label ----------

    def find_placement_groups(self, platform_id: int) -> list[int]:
        """Upstream ids of the groups labelled with ``platform_id``, oldest first."""
        found = self._call(
            "list placement groups",
            lambda: self.client.placement_groups.get_all(label_selector=f"{PLACEMENT_GROUP_LABEL}={platform_id}"),
        )
        return sorted(int(group.id or 0) for group in found)

    def ensure_placement_group(self, platform_id: int, group_type: str) -> int:
        """Upstream's id of the platform's group ``platform_id``, made (labelled, named after the
        platform's id: names are unique upstream) when upstream has none yet."""

        def find_or_create() -> int:
            found = self.client.placement_groups.get_all(label_selector=f"{PLACEMENT_GROUP_LABEL}={platform_id}")
            if found:
                return min(int(group.id or 0) for group in found)
            made = self.client.placement_groups.create(
                name=f"cp-placement-group-{platform_id}",
                type=group_type,
                labels={PLACEMENT_GROUP_LABEL: str(platform_id)},
            )
            return int(made.placement_group.id or 0)

        return self._call("create a placement group", find_or_create)

    def delete_placement_groups(self, platform_id: int) -> None:
        """Delete every upstream group labelled ``platform_id`` (none is no error)."""

        def delete_all() -> None:
            for group in self.client.placement_groups.get_all(label_selector=f"{PLACEMENT_GROUP_LABEL}={platform_id}"):
                try:
                    self.client.placement_groups.delete(group)
                except APIException as exc:
                    if exc.code != "not_found":
                        raise

        self._call("delete a placement group", delete_all)

    def add_to_placement_group(self, upstream_id: int, upstream_group_id: int) -> int:
        """Put the server in the upstream group; one there already is no error (answers 0)."""

        def add() -> int:
            current = self.client.servers.get_by_id(upstream_id).placement_group
            if current is not None and current.id == upstream_group_id:
                return 0  # a retry after upstream had added it already
            group = PlacementGroup(id=upstream_group_id)
            return int(self.client.servers.add_to_placement_group(self._bound(upstream_id), group).id or 0)

        return self._call("add a server to a placement group", add)

    def remove_from_placement_group(self, upstream_id: int) -> int:
        """Take the server out of its upstream group; one in no group upstream is no error (0)."""

        def remove() -> int:
            if self.client.servers.get_by_id(upstream_id).placement_group is None:
                return 0  # a retry after upstream had removed it already
            return int(self.client.servers.remove_from_placement_group(self._bound(upstream_id)).id or 0)

        return self._call("remove a server from its placement group", remove)

    def _action(self, what: str, call: Callable[[], BoundAction]) -> int:
        return int(self._call(what, call).id or 0)

    def _bound(self, upstream_id: int) -> BoundServer:
        return BoundServer(self.client.servers, {"id": upstream_id})

    def rebuild(self, upstream_id: int, *, image_name: str = "", image_id: int = 0) -> int:
        """Rebuild from a system image (by name) or a snapshot (by upstream id)."""
        return self.rebuild_with_password(upstream_id, image_name=image_name, image_id=image_id)[0]

    def rebuild_with_password(self, upstream_id: int, *, image_name: str = "", image_id: int = 0) -> tuple[int, str]:
        """As :meth:`rebuild`, with the new root password upstream made (empty when the server
        has SSH keys; to hand on once, never to keep in clear)."""
        image = Image(id=image_id) if image_id else Image(name=image_name)

        def rebuild() -> tuple[int, str]:
            answer = self.client.servers.rebuild(self._bound(upstream_id), image)
            return int(answer.action.id or 0) if answer.action else 0, str(answer.root_password or "")

        return self._call("rebuild a server", rebuild)

    def change_type(self, upstream_id: int, server_type: str, upgrade_disk: bool) -> int:
        return self._action(
            "change a server's type",
            lambda: self.client.servers.change_type(
                self._bound(upstream_id), ServerType(name=server_type), upgrade_disk=upgrade_disk
            ),
        )

    def enable_rescue(self, upstream_id: int, rescue_type: str, ssh_key_ids: list[int]) -> tuple[int, str]:
        """The action and the rescue root password upstream made (empty with SSH keys)."""

        def enable() -> tuple[int, str]:
            keys: Any = ssh_key_ids or None  # hcloud types them as str; the API takes the ids
            answer = self.client.servers.enable_rescue(self._bound(upstream_id), type=rescue_type, ssh_keys=keys)
            return int(answer.action.id or 0), str(answer.root_password or "")

        return self._call("enable the rescue system", enable)

    def disable_rescue(self, upstream_id: int) -> int:
        return self._action(
            "disable the rescue system", lambda: self.client.servers.disable_rescue(self._bound(upstream_id))
        )

    def find_image(self, platform_image_id: int) -> UpstreamSnapshot | None:
        found = self._call(
            "list images",
            lambda: self.client.images.get_all(label_selector=f"{IMAGE_LABEL}={platform_image_id}"),
        )
        if not found:
            return None
        image = min(found, key=lambda i: int(i.id or 0))
        return UpstreamSnapshot(int(image.id or 0), str(image.status or ""), image.image_size)

    def create_image(
        self, upstream_id: int, platform_image_id: int, image_type: str, description: str, labels: dict[str, str]
    ) -> tuple[int, int]:
        """Make the image unless upstream has one labelled with ``platform_image_id`` already:
        (upstream image id, action to wait for or 0)."""

        def find_or_create() -> tuple[int, int]:
            existing = self.find_image(platform_image_id)
            if existing is not None:
                return existing.id, 0
            answer = self.client.servers.create_image(
                self._bound(upstream_id),
                description=description,
                type=image_type,
                labels={**labels, IMAGE_LABEL: str(platform_image_id)},
            )
            return int(answer.image.id or 0), int(answer.action.id or 0)

        return self._call("create an image", find_or_create)

    def image(self, upstream_image_id: int) -> UpstreamSnapshot:
        image = self._call("read an image", lambda: self.client.images.get_by_id(upstream_image_id))
        return UpstreamSnapshot(int(image.id or 0), str(image.status or ""), image.image_size)

    def delete_image(self, upstream_image_id: int) -> None:
        """Delete it; one that is gone already is no error."""

        def delete_once() -> None:
            try:
                self.client.images.delete(Image(id=upstream_image_id))
            except APIException as exc:
                if exc.code != "not_found":
                    raise

        self._call("delete an image", delete_once)

    def metrics(self, upstream_id: int, types: list[str], start: Any, end: Any, step: int | None) -> Any:
        """hcloud's Metrics of the server (start, end, step, time_series)."""
        kinds: Any = types
        return self._call(
            "read metrics",
            lambda: (
                self.client.servers.get_metrics(
                    self._bound(upstream_id), type=kinds, start=start, end=end, step=step
                ).metrics
            ),
        )

    def shutdown(self, upstream_id: int) -> int:
        return self._action("shut a server down", lambda: self.client.servers.shutdown(self._bound(upstream_id)))

    def reset(self, upstream_id: int) -> int:
        return self._action("reset a server", lambda: self.client.servers.reset(self._bound(upstream_id)))

    def attach_iso(self, upstream_id: int, iso: str) -> int:
        """Attach upstream's ISO named ``iso`` (a name or an id, passed on as given)."""
        return self._action(
            "attach an ISO", lambda: self.client.servers.attach_iso(self._bound(upstream_id), Iso(name=iso))
        )

    def detach_iso(self, upstream_id: int) -> int:
        return self._action("detach an ISO", lambda: self.client.servers.detach_iso(self._bound(upstream_id)))

    def change_dns_ptr(self, upstream_id: int, ip: str, dns_ptr: str | None) -> int:
        return self._action(
            "change a reverse DNS entry",
            lambda: self.client.servers.change_dns_ptr(self._bound(upstream_id), ip=ip, dns_ptr=dns_ptr),
        )

    def enable_backup(self, upstream_id: int) -> int:
        return self._action("enable backups", lambda: self.client.servers.enable_backup(self._bound(upstream_id)))

    def disable_backup(self, upstream_id: int) -> int:
        return self._action("disable backups", lambda: self.client.servers.disable_backup(self._bound(upstream_id)))

    def request_console(self, upstream_id: int) -> tuple[int, str, str]:
        """The action, the websocket URL and the VNC password (to hand on once, never to keep)."""

        def request() -> tuple[int, str, str]:
            answer = self.client.servers.request_console(self._bound(upstream_id))
            return int(answer.action.id or 0), str(answer.wss_url), str(answer.password)

        return self._call("request a console", request)

    def reset_password(self, upstream_id: int) -> tuple[int, str]:
        """The action and the new root password (to hand on once, never to keep in clear)."""

        def reset() -> tuple[int, str]:
            answer = self.client.servers.reset_password(self._bound(upstream_id))
            return int(answer.action.id or 0), str(answer.root_password or "")

        return self._call("reset a root password", reset)

    def settings(self, upstream_id: int) -> tuple[dict[str, Any] | None, str]:
        """The server's ISO as upstream describes it (None: none) and its backup window ('' : none)."""
        bound = self._call("read a server", lambda: self.client.servers.get_by_id(upstream_id))
        iso = bound.iso
        described = (
            {
                "id": int(iso.id or 0),
                "name": str(iso.name or ""),
                "description": str(iso.description or ""),
                "type": str(iso.type or "public"),
                "architecture": str(iso.architecture or ""),
            }
            if iso is not None
            else None
        )
        return described, str(bound.backup_window or "")
