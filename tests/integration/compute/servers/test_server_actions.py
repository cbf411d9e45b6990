"""The server actions with parameters, end to end below the gateway: rebuild (protection),
change type (Hetzner's disk rules), rescue (the password shown once, stored nowhere), and
snapshot images of a tenant (made upstream, listed, updated, rebuilt from, deleted)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from compute_service.domain.server_actions import ServerNotStopped
from compute_service.domain.servers import POWER_OFF, Protected, Server
from compute_service.service_layer import server_actions, servers
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed
from tests.integration.compute.servers.conftest import Platform
from tests.integration.compute.servers.test_servers import _anyone, _drain, _events, _new


def _running(platform: Platform, name: str = "web-1") -> Server:
    server, _ = servers.create(_new(platform, name), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    return servers.get(server.id, _anyone, platform.compute.uow())


def _get(platform: Platform, server_id: int) -> Server:
    return servers.get(server_id, _anyone, platform.compute.uow())


def _dump(platform: Platform) -> str:
    """Every row of every compute table, as text (to look for secrets)."""
    with platform.compute.engine.connect() as conn:
        tables = conn.execute(sa.text("SHOW TABLES")).scalars().all()
        rows: list[str] = []
        for table in tables:
            query = sa.text(f"SELECT * FROM `{table}`")  # noqa: S608 - the names come from SHOW TABLES
            rows.extend(str(row) for row in conn.execute(query))
        return "\n".join(rows)


def test_rebuild_replaces_the_image_upstream_and_honours_protection(platform: Platform) -> None:
    server = _running(platform)
    action = server_actions.rebuild(server.id, "debian-12", _anyone, platform.compute.uow())
    assert (action.command, action.params["image_name"]) == ("rebuild_server", "debian-12")
    assert _get(platform, server.id).locked
    assert _drain(platform.provisioner()) == ["success"]
    rebuilt = _get(platform, server.id)
    assert (rebuilt.image, rebuilt.status, rebuilt.locked) == ("debian-12", "running", False)
    assert platform.sim.labelled(server.id)[0]["image"]["name"] == "debian-12"
    assert _events(platform)[-1] == "server.rebuilt"
    with pytest.raises(InvalidInput, match="image"):
        server_actions.rebuild(server.id, "windows-95", _anyone, platform.compute.uow())
    with platform.compute.engine.begin() as conn:
        conn.execute(sa.text("UPDATE servers SET protection_rebuild = 1 WHERE id = :id"), {"id": server.id})
    with pytest.raises(Protected):
        server_actions.rebuild(server.id, "ubuntu-24.04", _anyone, platform.compute.uow())
    assert not _get(platform, server.id).locked


def test_change_type_needs_the_server_off_and_never_shrinks_the_disk(platform: Platform) -> None:
    server = _running(platform)
    uow = platform.compute.uow
    with pytest.raises(ServerNotStopped) as running:
        server_actions.change_type(server.id, "cx32", False, _anyone, uow())
    assert running.value.code == "server_not_stopped"
    servers.start_action(server.id, POWER_OFF, _anyone, uow())
    _drain(platform.provisioner())
    with pytest.raises(InvalidInput, match="does not exist"):
        server_actions.change_type(server.id, "cx999", False, _anyone, uow())
    with pytest.raises(InvalidInput, match=r"is arm"):
        server_actions.change_type(server.id, "cax11", False, _anyone, uow())
    base_disk = server.disk_gb
    # Without upgrade_disk the disk keeps its size: a later downgrade stays possible.
    server_actions.change_type(server.id, "cx32", False, _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    bigger = _get(platform, server.id)
    assert (bigger.server_type, bigger.disk_gb, bigger.status) == ("cx32", base_disk, "stopped")
    assert platform.sim.labelled(server.id)[0]["server_type"]["name"] == "cx32"
    server_actions.change_type(server.id, "cx22", False, _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).server_type == "cx22"
    # With upgrade_disk the disk grows, and the smaller type is refused from then on.
    server_actions.change_type(server.id, "cx32", True, _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    grown = _get(platform, server.id)
    assert grown.disk_gb > base_disk
    with pytest.raises(InvalidInput, match="smaller"):
        server_actions.change_type(server.id, "cx22", False, _anyone, uow())
    assert _events(platform).count("server.type_changed") == 3
    with platform.compute.engine.connect() as conn:
        periods = conn.execute(
            sa.text("SELECT COUNT(*), SUM(ended_at IS NULL) FROM server_type_periods WHERE server_id = :id"),
            {"id": server.id},
        ).one()
    assert (periods[0], int(periods[1])) == (4, 1)


def test_rescue_answers_the_password_once_and_stores_it_nowhere(platform: Platform) -> None:
    server = _running(platform)
    action, password = server_actions.enable_rescue(
        server.id, "", [], _anyone, platform.compute.uow(), platform.compute.upstream()
    )
    assert action.command == "enable_rescue" and len(password) >= 12
    assert action.upstream_action_id
    assert _drain(platform.provisioner()) == ["success"]
    assert _get(platform, server.id).rescue_enabled
    assert platform.sim.labelled(server.id)[0]["rescue_enabled"] is True
    assert password not in _dump(platform)
    with pytest.raises(InvalidInput):
        server_actions.enable_rescue(
            server.id, "freebsd64", [], _anyone, platform.compute.uow(), platform.compute.upstream()
        )
    server_actions.disable_rescue(server.id, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert not _get(platform, server.id).rescue_enabled
    with pytest.raises(PreconditionFailed, match="not enabled"):
        server_actions.disable_rescue(server.id, _anyone, platform.compute.uow())
    assert _events(platform).count("server.rescue_changed") == 2


def test_a_snapshot_is_made_upstream_owned_by_the_tenant_and_rebuilt_from(platform: Platform) -> None:
    server = _running(platform)
    uow = platform.compute.uow
    image, action = server_actions.create_image(
        server.id, "snapshot", "before upgrade", {"keep": "yes"}, _anyone, uow()
    )
    assert (image.status, image.type, image.user_id, action.command) == (
        "creating",
        "snapshot",
        platform.user_id,
        "create_image",
    )
    assert _drain(platform.provisioner()) == ["success"]
    made = server_actions.get_image(image.id, _anyone, uow())
    assert made.status == "available" and made.hetzner_id
    assert made.server_name == "web-1" and made.labels == {"keep": "yes"}
    assert [i.id for i in server_actions.list_own_images(platform.user_id, None, uow())] == [image.id]
    other = platform.new_user("other@example.com")
    assert server_actions.list_own_images(other, None, uow()) == []

    updated = server_actions.update_image(image.id, "golden", {"tier": "gold"}, _anyone, uow())
    assert (updated.description, updated.labels) == ("golden", {"tier": "gold"})

    server_actions.rebuild(server.id, str(image.id), _anyone, uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert platform.sim.labelled(server.id)[0]["image"]["id"] == made.hetzner_id
    # Another tenant's server cannot rebuild from it: the id is not one of its images.
    theirs, _ = servers.create(_new(platform, "theirs", user_id=other), platform.compute.quotas, uow())
    _drain(platform.provisioner())
    with pytest.raises(InvalidInput):
        server_actions.rebuild(theirs.id, str(image.id), _anyone, uow())

    def stranger(user_id: int, organization_id: int | None) -> None:
        if user_id != other:
            raise NotFound("not yours")

    with pytest.raises(NotFound):
        server_actions.delete_image(image.id, stranger, uow(), platform.compute.upstream())
    server_actions.delete_image(image.id, _anyone, uow(), platform.compute.upstream())
    with pytest.raises(NotFound):
        server_actions.get_image(image.id, _anyone, uow())
    with platform.compute.engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT event_type FROM outbox WHERE event_type LIKE 'image.%' ORDER BY id")
        ).scalars()
        assert list(kinds) == ["image.created", "image.created", "image.updated", "image.deleted"]
