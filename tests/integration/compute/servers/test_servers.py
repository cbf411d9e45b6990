"""Servers: create (catalog, quota at identity over gRPC), the worker provisioning them upstream
through hcloud, power actions, the lock while an action runs, delete, and upstream failures."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from compute_service.domain.servers import DELETE, POWER_OFF, POWER_ON, REBOOT, Locked, Protected
from compute_service.service_layer import servers
from compute_service.service_layer.provisioning import Provisioner
from cpshared.errors import AlreadyExists, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from gateway_service.server_status import hetzner_status
from tests.integration.compute.servers.conftest import Platform


def _anyone(user_id: int, organization_id: int | None) -> None:
    return None


def _new(platform: Platform, name: str = "web-1", **overrides: object) -> servers.NewServer:
    fields: dict[str, object] = {
        "user_id": platform.user_id,
        "organization_id": None,
        "name": name,
        "server_type": "cx22",
        "image": "ubuntu-24.04",
        "datacenter": "fsn1",
        "labels": {"env": "test"},
    }
    fields.update(overrides)
    return servers.NewServer(**fields)  # type: ignore[arg-type]


def _drain(provisioner: Provisioner) -> list[str]:
    """Run the worker's rounds until no action is left or one is deferred; their outcomes."""
    done: list[str] = []
    while (outcome := provisioner.run_once()) is not None:
        done.append(outcome.status)
        if outcome.status == "deferred":
            break
    return done


def _events(platform: Platform) -> list[str]:
    with platform.compute.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT event_type FROM outbox WHERE event_type LIKE 'server.%' ORDER BY id")
            ).scalars()
        )


def test_a_created_server_is_provisioned_upstream_labelled_with_its_platform_id(platform: Platform) -> None:
    server, action = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    assert (server.status, server.locked, action.command, action.status) == (
        "provisioning",
        True,
        "create_server",
        "running",
    )
    assert platform.server_usage() == 1
    assert _drain(platform.provisioner()) == ["success"]
    running = servers.get(server.id, _anyone, platform.compute.uow())
    upstream = platform.sim.labelled(server.id)
    assert len(upstream) == 1 and upstream[0]["id"] == running.hetzner_id
    assert upstream[0]["labels"] == {"env": "test", "cp_server_id": str(server.id)}
    assert (running.status, running.locked) == ("running", False)
    assert running.ipv4_address == upstream[0]["public_net"]["ipv4"]["ip"]
    assert running.ipv6_network == upstream[0]["public_net"]["ipv6"]["ip"]
    done = servers.get_action(action.id, _anyone, platform.compute.uow())
    assert (done.status, done.progress) == ("success", 100) and done.finished is not None
    assert _events(platform) == ["server.created", "server.status_changed"]
    assert hetzner_status(running.status) == "running"


def test_the_quota_refuses_the_third_server_and_nothing_is_created(platform: Platform) -> None:
    platform.set_server_limit(2)
    for name in ("a", "b"):
        servers.create(_new(platform, name), platform.compute.quotas, platform.compute.uow())
    with pytest.raises(LimitExceeded) as refused:
        servers.create(_new(platform, "c"), platform.compute.quotas, platform.compute.uow())
    assert refused.value.code == "resource_limit_exceeded"
    _drain(platform.provisioner())
    found, total = servers.search(
        servers.Search(user_id=platform.user_id, organization_id=None), platform.compute.uow()
    )
    assert total == 2 and {s.name for s in found} == {"a", "b"}
    assert len(platform.sim.servers()) == 2
    assert platform.server_usage() == 2
    assert _events(platform).count("server.created") == 2


def test_delete_removes_the_server_upstream_releases_the_quota_and_frees_the_name(platform: Platform) -> None:
    platform.set_server_limit(1)
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    provisioner = platform.provisioner()
    _drain(provisioner)
    action = servers.start_action(server.id, DELETE, _anyone, platform.compute.uow())
    assert action.command == "delete_server"
    assert _drain(provisioner) == ["success"]
    assert platform.sim.labelled(server.id) == []
    assert platform.server_usage() == 0
    with pytest.raises(NotFound):
        servers.get(server.id, _anyone, platform.compute.uow())
    assert _events(platform)[-1] == "server.deleted"
    again, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    assert again.id != server.id


def test_power_off_and_on_go_through_the_worker_and_change_the_status(platform: Platform) -> None:
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    provisioner = platform.provisioner()
    _drain(provisioner)
    servers.start_action(server.id, POWER_OFF, _anyone, platform.compute.uow())
    assert servers.get(server.id, _anyone, platform.compute.uow()).locked
    assert _drain(provisioner) == ["success"]
    off = servers.get(server.id, _anyone, platform.compute.uow())
    assert (off.status, hetzner_status(off.status), off.locked) == ("stopped", "off", False)
    assert platform.sim.labelled(server.id)[0]["status"] == "off"
    servers.start_action(server.id, POWER_ON, _anyone, platform.compute.uow())
    _drain(provisioner)
    assert servers.get(server.id, _anyone, platform.compute.uow()).status == "running"
    assert platform.sim.labelled(server.id)[0]["status"] == "running"
    servers.start_action(server.id, REBOOT, _anyone, platform.compute.uow())
    _drain(provisioner)
    commands = [a.command for a in servers.list_actions(server.id, _anyone, platform.compute.uow())]
    assert commands == ["reboot_server", "start_server", "stop_server", "create_server"]
    assert _events(platform).count("server.status_changed") == 3


def test_a_second_action_while_one_runs_is_refused_as_locked(platform: Platform) -> None:
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    with pytest.raises(Locked) as locked:
        servers.start_action(server.id, DELETE, _anyone, platform.compute.uow())
    assert locked.value.code == "locked"
    _drain(platform.provisioner())
    servers.start_action(server.id, POWER_OFF, _anyone, platform.compute.uow())
    for command in (POWER_ON, REBOOT, DELETE):
        with pytest.raises(Locked):
            servers.start_action(server.id, command, _anyone, platform.compute.uow())


def test_delete_honours_protection(platform: Platform) -> None:
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    _drain(platform.provisioner())
    with platform.compute.engine.begin() as conn:
        conn.execute(sa.text("UPDATE servers SET protection_delete = 1 WHERE id = :id"), {"id": server.id})
    with pytest.raises(Protected) as protected:
        servers.start_action(server.id, DELETE, _anyone, platform.compute.uow())
    assert protected.value.code == "protected"


def test_create_checks_the_request_against_the_catalog_and_the_tenant(platform: Platform) -> None:
    quotas, uow = platform.compute.quotas, platform.compute.uow
    with pytest.raises(InvalidInput, match="server type"):
        servers.create(_new(platform, server_type="cx999"), quotas, uow())
    with pytest.raises(InvalidInput, match="not offered in ash"):
        servers.create(_new(platform, datacenter="ash"), quotas, uow())
    with pytest.raises(InvalidInput, match="image"):
        servers.create(_new(platform, image="windows-95"), quotas, uow())
    with pytest.raises(InvalidInput, match="hostname"):
        servers.create(_new(platform, name="not a hostname"), quotas, uow())
    with pytest.raises(InvalidInput, match="SSH key 4242"):
        servers.create(_new(platform, ssh_key_ids=[4242]), quotas, uow())
    servers.create(_new(platform), quotas, uow())
    with pytest.raises(AlreadyExists):
        servers.create(_new(platform), quotas, uow())
    other = platform.new_user("other@example.com")
    servers.create(_new(platform, user_id=other), quotas, uow())  # names are unique per tenant only
    assert platform.server_usage() == 1 and platform.server_usage(other) == 1


def test_an_injected_upstream_500_on_create_is_retried_then_succeeds(platform: Platform) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="error", status=500, code="server_error", times=2)
    server, _ = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert servers.get(server.id, _anyone, platform.compute.uow()).status == "running"
    assert len(platform.sim.labelled(server.id)) == 1


def test_an_upstream_that_stays_down_defers_the_action_for_a_later_round(platform: Platform) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="error", status=503, code="unavailable", times=3)
    server, action = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    provisioner = platform.provisioner(attempts=2)
    deferred = provisioner.run_once()
    assert deferred is not None and deferred.status == "deferred"
    assert servers.get_action(action.id, _anyone, platform.compute.uow()).status == "running"
    assert _drain(provisioner) == ["success"]  # the third failure, then the fourth attempt succeeds
    assert servers.get(server.id, _anyone, platform.compute.uow()).status == "running"
    assert len(platform.sim.labelled(server.id)) == 1


def test_a_permanent_upstream_error_puts_the_server_in_error_with_the_code(platform: Platform) -> None:
    platform.sim.fault(
        method="POST",
        path="/v1/servers",
        kind="error",
        status=403,
        code="resource_limit_exceeded",
        message="no capacity",
    )
    server, action = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["error"]
    failed = servers.get(server.id, _anyone, platform.compute.uow())
    assert (failed.status, failed.locked) == ("error", False)
    done = servers.get_action(action.id, _anyone, platform.compute.uow())
    assert (done.status, done.error_code, done.error_message) == ("error", "resource_limit_exceeded", "no capacity")
    with pytest.raises(PreconditionFailed):
        servers.start_action(server.id, POWER_ON, _anyone, platform.compute.uow())
    platform.sim.clear_faults()
    servers.start_action(server.id, DELETE, _anyone, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["success"]
    assert platform.server_usage() == 0


def test_a_failed_upstream_action_is_recorded_with_its_code(platform: Platform) -> None:
    platform.sim.fault(method="POST", path="/v1/servers", kind="action_error", code="image_unavailable", message="gone")
    server, action = servers.create(_new(platform), platform.compute.quotas, platform.compute.uow())
    assert _drain(platform.provisioner()) == ["error"]
    done = servers.get_action(action.id, _anyone, platform.compute.uow())
    assert (done.error_code, done.error_message) == ("image_unavailable", "gone")
    assert servers.get(server.id, _anyone, platform.compute.uow()).status == "error"


def test_the_sweep_deletes_upstream_servers_of_deleted_servers_and_duplicates(platform: Platform) -> None:
    keep, _ = servers.create(_new(platform, "keep"), platform.compute.quotas, platform.compute.uow())
    gone, _ = servers.create(_new(platform, "gone"), platform.compute.quotas, platform.compute.uow())
    provisioner = platform.provisioner()
    _drain(provisioner)
    servers.start_action(gone.id, DELETE, _anyone, platform.compute.uow())
    _drain(provisioner)
    # What a killed worker's create, landing late, would leave: one more server with each label.
    client = platform.upstream().client
    for server_id in (keep.id, gone.id):
        client.servers.create(
            name=f"late-{server_id}",
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            location=Location(name="fsn1"),
            labels={"cp_server_id": str(server_id)},
        )
    assert len(provisioner.sweep()) == 2
    kept = servers.get(keep.id, _anyone, platform.compute.uow())
    assert [s["id"] for s in platform.sim.servers()] == [kept.hetzner_id]
    assert provisioner.sweep() == []
