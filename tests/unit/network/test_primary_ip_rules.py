"""The primary IP aggregate's rules: types, names, assignment only to a powered-off server of its
tenant and location without one of its type, reverse DNS, protection, locking, what a deleted
server does to it (auto_delete), and the events each change records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cpshared.aggregate import pending_events
from cpshared.errors import InvalidInput
from network_service.domain import primary_ips as pips
from network_service.domain.actions import RUNNING, SUCCESS, Locked, Protected
from network_service.domain.floating_ips import ServerRef
from network_service.domain.primary_ips import PrimaryIp, ServerNotStopped

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def _pip(**changes: object) -> PrimaryIp:
    fields: dict[str, object] = {
        "id": 7,
        "user_id": 42,
        "organization_id": None,
        "name": "edge",
        "type": "ipv4",
        "location": "fsn1",
        "datacenter_id": 1,
        "ip_address": "203.0.113.7",
        "hetzner_id": 99,
        "status": pips.READY,
    }
    fields.update(changes)
    return PrimaryIp(**fields)  # type: ignore[arg-type]


def _server(**changes: object) -> ServerRef:
    fields: dict[str, object] = {
        "id": 5,
        "user_id": 42,
        "organization_id": None,
        "location": "fsn1",
        "network_zone": "eu-central",
        "status": "stopped",
    }
    fields.update(changes)
    return ServerRef(**fields)  # type: ignore[arg-type]


def _types(pip: PrimaryIp) -> list[str]:
    return [event.envelope.event_type for event in pending_events(pip, "network")]


@pytest.mark.parametrize("kind", ["ipv5", "", "IPV4"])
def test_an_unknown_type_is_refused(kind: str) -> None:
    with pytest.raises(InvalidInput):
        pips.check_type(kind)


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_a_name_is_1_to_255_characters(name: str) -> None:
    with pytest.raises(InvalidInput):
        pips.check_name(name)


def test_only_servers_are_assignees() -> None:
    assert pips.check_assignee_type("server") == "server"
    with pytest.raises(InvalidInput):
        pips.check_assignee_type("load_balancer")


def test_it_is_assigned_only_to_a_powered_off_server_of_its_tenant_and_location_without_one_of_its_type() -> None:
    pip = _pip()
    pip.ensure_assignable_to(_server(), taken=False)
    with pytest.raises(ServerNotStopped):
        pip.ensure_assignable_to(_server(status="running"), taken=False)
    for refused in (_server(user_id=43), _server(live=False), _server(location="nbg1")):
        with pytest.raises(InvalidInput):
            pip.ensure_assignable_to(refused, taken=False)
    with pytest.raises(InvalidInput):
        pip.ensure_assignable_to(_server(), taken=True)
    with pytest.raises(InvalidInput):
        _pip(assignee_id=9).ensure_assignable_to(_server(), taken=False)


def test_reverse_dns_names_one_of_its_addresses_and_a_hostname() -> None:
    assert _pip().check_dns_ptr(" 203.0.113.7 ", "edge.example.com") == "203.0.113.7"
    v6 = _pip(type="ipv6", ip_address="2001:db8:1::/64")
    assert v6.check_dns_ptr("2001:db8:1::1", None) == "2001:db8:1::1"
    for ip, name in (("203.0.113.8", "a.example.com"), ("nonsense", "a.example.com"), ("203.0.113.7", "not a host!")):
        with pytest.raises(InvalidInput):
            _pip().check_dns_ptr(ip, name)
    with pytest.raises(InvalidInput):
        _pip(ip_address=None).check_dns_ptr("203.0.113.7", None)


def test_an_action_locks_it_and_ending_it_records_the_event() -> None:
    pip = _pip()
    action = pip.begin(pips.ASSIGN, {"server_id": 5}, NOW)
    assert action.status == RUNNING and pip.locked
    assert {"id": 5, "type": "server"} in action.resources
    with pytest.raises(Locked):
        pip.begin(pips.UNASSIGN, {}, NOW)
    pip.assigned(action, 5, NOW)
    assert (pip.assignee_id, pip.locked, action.status) == (5, False, SUCCESS)
    assert _types(pip) == ["primary_ip.assigned"]


def test_a_protected_one_is_not_deleted_and_a_blocked_one_takes_no_action() -> None:
    pip = _pip()
    protecting = pip.change_protection(True, NOW)
    assert protecting.status == SUCCESS and pip.protection_delete
    with pytest.raises(Protected):
        pip.delete(NOW)
    blocked = _pip()
    assert blocked.block("suspended") and not blocked.block("suspended")
    with pytest.raises(Locked):
        blocked.begin(pips.UNASSIGN, {}, NOW)
    with pytest.raises(Locked):
        blocked.update("new", None, None)
    assert blocked.unblock()


def test_a_deleted_server_deletes_its_auto_delete_primary_ips_and_unassigns_the_others() -> None:
    doomed = _pip(assignee_id=5, auto_delete=True, protection_delete=True)
    action = doomed.server_gone(NOW)
    assert action is not None and action.command == pips.DELETE and doomed.deleted_at == NOW
    assert doomed.assignee_id is None and _types(doomed) == ["primary_ip.deleted"]
    kept = _pip(assignee_id=5)
    assert kept.server_gone(NOW) is None
    assert kept.assignee_id is None and kept.deleted_at is None and _types(kept) == ["primary_ip.unassigned"]


def test_update_records_what_changed_and_nothing_when_nothing_did() -> None:
    pip = _pip()
    assert pip.update("edge-2", {"a": "b"}, True) == ["name", "labels", "auto_delete"]
    assert pip.update("edge-2", {"a": "b"}, True) == []
    assert _types(pip) == ["primary_ip.updated"]


def test_a_failed_creation_leaves_no_primary_ip() -> None:
    pip = _pip(status=pips.CREATING, ip_address=None, hetzner_id=None)
    action = pip.begin(pips.CREATE, {}, NOW)
    pip.action_failed(action, "resource_limit_exceeded", "limit", NOW)
    assert pip.status == pips.FAILED and pip.deleted_at == NOW and not pip.locked
    assert _types(pip) == ["primary_ip.deleted"]
