"""Tenants' images as Hetzner treats them, end to end below the gateway: protection against
deletion (the platform's own; its change_protection action finished at once, an event, nothing
deleted while protected), an image's actions, servers created from a tenant's own snapshot (made
upstream from the upstream image behind it; architecture and disk checked; another tenant's is
unknown), and the root password upstream makes for a server created without SSH keys (answered
once, only its argon2id hash kept; upstream refusing changes nothing)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compute_service.domain.server_actions import SnapshotImage
from compute_service.domain.servers import POWER_OFF, Protected, Server
from compute_service.service_layer import server_actions, servers, ssh_keys
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed, Unavailable
from tests.integration.compute.servers.conftest import Platform
from tests.integration.compute.servers.test_server_actions import _dump, _get, _running
from tests.integration.compute.servers.test_servers import _anyone, _drain, _new


def _snapshot(platform: Platform, server: Server) -> SnapshotImage:
    image, _ = server_actions.create_image(server.id, "snapshot", "golden", {}, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    return server_actions.get_image(image.id, _anyone, platform.compute.uow())


def _image_events(platform: Platform) -> list[str]:
    with platform.compute.engine.connect() as conn:
        query = sa.text("SELECT event_type FROM outbox WHERE event_type LIKE 'image.%' ORDER BY id")
        return list(conn.execute(query).scalars())


def test_a_protected_image_refuses_deletion_and_changes_nothing(platform: Platform) -> None:
    uow = platform.compute.uow
    image = _snapshot(platform, _running(platform))
    with pytest.raises(InvalidInput, match="delete is required"):
        server_actions.change_image_protection(image.id, None, _anyone, uow())

    action = server_actions.change_image_protection(image.id, True, _anyone, uow())
    assert (action.command, action.status, action.progress, action.server_id) == (
        "change_protection",
        "success",
        100,
        None,
    )
    assert action.finished is not None and action.resources == [{"id": image.id, "type": "image"}]
    assert server_actions.get_image(image.id, _anyone, uow()).protection_delete
    with pytest.raises(Protected) as protected:
        server_actions.delete_image(image.id, _anyone, uow(), platform.compute.upstream())
    assert protected.value.code == "protected"
    assert server_actions.get_image(image.id, _anyone, uow()).status == "available"
    upstream_images = platform.upstream().client.images.get_all(type=["snapshot"])
    assert [i.id for i in upstream_images] == [image.hetzner_id]  # untouched upstream too

    # Its actions: the create_image that made it (about its server and it) and the protection.
    listed = server_actions.image_actions(image.id, _anyone, uow())
    assert [a.command for a in listed] == ["change_protection", "create_image"]
    assert listed[1].resources == [{"id": image.server_id, "type": "server"}, {"id": image.id, "type": "image"}]
    page, total = server_actions.tenant_actions(
        platform.user_id, None, [], [("id", False)], 1, 25, uow(), resource_type="image"
    )
    assert ([a.id for a in page], total) == ([listed[1].id, listed[0].id], 2)
    servers_page, _ = server_actions.tenant_actions(platform.user_id, None, [], [], 1, 25, uow())
    assert action.id not in [a.id for a in servers_page]  # not a server's action
    assert servers.get_action(action.id, _anyone, uow()).image_id == image.id

    def stranger(user_id: int, organization_id: int | None) -> None:
        raise NotFound("not yours")

    with pytest.raises(NotFound):
        server_actions.change_image_protection(image.id, False, stranger, uow())
    with pytest.raises(NotFound):
        server_actions.image_actions(image.id, stranger, uow())

    server_actions.change_image_protection(image.id, False, _anyone, uow())
    server_actions.delete_image(image.id, _anyone, uow(), platform.compute.upstream())
    assert _image_events(platform) == [
        "image.created",
        "image.created",
        "image.protection_changed",
        "image.protection_changed",
        "image.deleted",
    ]


def test_a_server_is_created_from_the_tenants_own_snapshot_and_no_one_elses(platform: Platform) -> None:
    uow = platform.compute.uow
    platform.set_server_limit(10)
    origin = _running(platform, "origin")
    image = _snapshot(platform, origin)
    clone, action = servers.create(
        _new(platform, "clone", image=str(image.id)), platform.compute.quotas, platform.compute.uow()
    )
    assert (clone.image_id, action.params["upstream_image_id"]) == (image.id, image.hetzner_id)
    assert _drain(platform.provisioner()) == ["success"]
    made = _get(platform, clone.id)
    assert made.status == "running" and made.image_id == image.id
    assert platform.sim.labelled(clone.id)[0]["image"]["id"] == image.hetzner_id

    with pytest.raises(InvalidInput, match="is x86; server type cax11 is arm"):
        servers.create(_new(platform, "arm", image=str(image.id), server_type="cax11"), platform.compute.quotas, uow())

    other = platform.new_user("other@example.com")
    with pytest.raises(InvalidInput, match=f"image '{image.id}' does not exist"):
        servers.create(_new(platform, "theft", image=str(image.id), user_id=other), platform.compute.quotas, uow())

    # A snapshot of a 80 GB disk needs a type with a disk of at least 80 GB, to create and to rebuild.
    servers.start_action(origin.id, POWER_OFF, _anyone, uow())
    _drain(platform.provisioner())
    server_actions.change_type(origin.id, "cx32", True, _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    big = _snapshot(platform, _get(platform, origin.id))
    assert big.disk_size == 80
    with pytest.raises(InvalidInput, match="needs a disk of at least 80 GB"):
        servers.create(_new(platform, "small", image=str(big.id)), platform.compute.quotas, uow())
    with pytest.raises(InvalidInput, match="needs a disk of at least 80 GB"):
        server_actions.rebuild(clone.id, str(big.id), _anyone, uow())
    roomy, _ = servers.create(
        _new(platform, "roomy", image=str(big.id), server_type="cx32"), platform.compute.quotas, uow()
    )
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, roomy.id).status == "running"
    assert platform.server_usage() == 3


def test_a_server_created_without_ssh_keys_answers_upstreams_root_password_once(platform: Platform) -> None:
    uow = platform.compute.uow
    server, action, password = servers.create_with_password(
        _new(platform, "no-keys"), platform.compute.quotas, uow(), platform.upstream()
    )
    assert len(password) >= 12 and action.upstream_action_id
    upstream = platform.sim.labelled(server.id)
    assert len(upstream) == 1  # asked of upstream at once
    kept = _get(platform, server.id)
    assert kept.root_password_hash and kept.root_password_hash.startswith("$argon2id$")
    assert kept.has_root_password(password) and not kept.has_root_password(password + "x")
    assert password not in _dump(platform)
    # The worker adopts the upstream server by its label and waits for it: still exactly one.
    assert _drain(platform.provisioner()) == ["success"]
    running = _get(platform, server.id)
    assert (running.status, running.hetzner_id) == ("running", upstream[0]["id"])
    assert [s["id"] for s in platform.sim.labelled(server.id)] == [upstream[0]["id"]]
    assert servers.get_action(action.id, _anyone, uow()).upstream_action_id == action.upstream_action_id


def test_with_ssh_keys_there_is_no_root_password_and_upstream_is_left_to_the_worker(platform: Platform) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    openssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    key = ssh_keys.create(platform.user_id, None, "laptop", openssh, {}, platform.compute.uow())
    server, _, password = servers.create_with_password(
        _new(platform, "keyed", ssh_key_ids=[key.id]),
        platform.compute.quotas,
        platform.compute.uow(),
        platform.upstream(),
    )
    assert password == "" and platform.sim.labelled(server.id) == []
    assert _get(platform, server.id).root_password_hash is None
    assert _drain(platform.provisioner()) == ["success"]


def test_upstream_refusing_the_create_changes_nothing(platform: Platform) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="error", code="invalid_input", status=400, times=1)
    with pytest.raises(PreconditionFailed, match="upstream refused to create the server"):
        servers.create_with_password(
            _new(platform, "refused"), platform.compute.quotas, platform.compute.uow(), platform.upstream()
        )
    assert platform.server_usage() == 0
    found, total = servers.search(
        servers.Search(user_id=platform.user_id, organization_id=None), platform.compute.uow()
    )
    assert (found, total) == ([], 0)
    assert platform.sim.servers() == []
    assert platform.provisioner().run_once() is None  # no action left behind


def test_a_create_past_the_callers_deadline_keeps_nothing_and_its_upstream_server_is_swept(
    platform: Platform,
) -> None:
    with pytest.raises(Unavailable, match="took too long"):
        servers.create_with_password(
            _new(platform, "late"),
            platform.compute.quotas,
            platform.compute.uow(),
            platform.upstream(),
            time.monotonic(),
        )
    assert platform.server_usage() == 0
    found, total = servers.search(
        servers.Search(user_id=platform.user_id, organization_id=None), platform.compute.uow()
    )
    assert (found, total) == ([], 0)
    assert len(platform.sim.servers()) == 1  # made upstream before the deadline was seen to have passed
    assert len(platform.provisioner().sweep()) == 1
    assert [s for s in platform.sim.servers() if s["status"] != "deleting"] == []


def test_a_rebuild_answers_upstreams_new_root_password_once_and_keeps_only_its_hash(platform: Platform) -> None:
    uow = platform.compute.uow
    server, _, first = servers.create_with_password(
        _new(platform, "rebuilt"), platform.compute.quotas, uow(), platform.upstream()
    )
    assert _drain(platform.provisioner()) == ["success"]
    action, password = server_actions.rebuild_with_password(server.id, "debian-12", _anyone, uow(), platform.upstream())
    assert password and password != first and action.upstream_action_id
    kept = _get(platform, server.id)
    assert kept.has_root_password(password) and not kept.has_root_password(first)
    assert password not in _dump(platform)
    # The worker only waits for the upstream action asked for at once.
    assert _drain(platform.provisioner()) == ["success"]
    done = servers.get_action(action.id, _anyone, uow())
    assert (done.status, done.upstream_action_id) == ("success", action.upstream_action_id)
    rebuilt = _get(platform, server.id)
    assert (rebuilt.image, rebuilt.status) == ("debian-12", "running")
    assert platform.sim.labelled(server.id)[0]["image"]["name"] == "debian-12"
