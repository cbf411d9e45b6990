"""The floating IP aggregate's rules: types, names, network zones, reverse DNS, protection,
locking, and the events each change records (with the version it bumps)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cpshared.errors import InvalidInput
from hetzner_conventions.labels import check_hostname
from network_service.domain import floating_ips as fips
from network_service.domain.actions import ERROR, RUNNING, SUCCESS, Locked, Protected
from network_service.domain.floating_ips import FloatingIp, ServerRef

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _fip(**changes: object) -> FloatingIp:
    fields: dict[str, object] = {
        "id": 7,
        "user_id": 42,
        "organization_id": None,
        "name": "web",
        "type": "ipv4",
        "home_location": "fsn1",
        "datacenter_id": 1,
        "network_zone": "eu-central",
        "ip_address": "203.0.113.7",
        "hetzner_id": 99,
        "status": fips.READY,
    }
    fields.update(changes)
    return FloatingIp(**fields)  # type: ignore[arg-type]


def _server(**changes: object) -> ServerRef:
    fields: dict[str, object] = {
        "id": 5,
        "user_id": 42,
        "organization_id": None,
        "location": "nbg1",
        "network_zone": "eu-central",
    }
    fields.update(changes)
    return ServerRef(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["ipv5", "IPV4", "", "ip"])
def test_only_ipv4_and_ipv6_are_types(kind: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        fips.check_type(kind)
    assert refused.value.details == {"fields": [{"name": "type", "messages": [refused.value.message]}]}
    assert fips.check_type("ipv6") == "ipv6"


def test_a_server_of_the_same_tenant_and_zone_takes_it_another_zone_or_tenant_does_not() -> None:
    fip = _fip()
    fip.ensure_assignable_to(_server())
    with pytest.raises(InvalidInput, match="network zone us-east"):
        fip.ensure_assignable_to(_server(location="ash", network_zone="us-east"))
    with pytest.raises(InvalidInput, match="does not exist"):
        fip.ensure_assignable_to(_server(user_id=43))
    with pytest.raises(InvalidInput, match="does not exist"):
        fip.ensure_assignable_to(_server(organization_id=3))
    with pytest.raises(InvalidInput, match="does not exist"):
        fip.ensure_assignable_to(_server(live=False))
    _fip(organization_id=3).ensure_assignable_to(_server(user_id=77, organization_id=3))


@pytest.mark.parametrize("name", ["not a hostname!", "-lead.example.com", "a" * 64 + ".example.com", "x..y", ""])
def test_a_reverse_dns_name_must_be_a_hostname(name: str) -> None:
    with pytest.raises(InvalidInput):
        _fip().check_dns_ptr("203.0.113.7", name)
    assert check_hostname("dns_ptr", "www.example.com") == "www.example.com"


def test_a_reverse_dns_entry_names_an_address_of_the_floating_ip() -> None:
    assert _fip().check_dns_ptr(" 203.0.113.7 ", "www.example.com") == "203.0.113.7"
    with pytest.raises(InvalidInput, match="is not an address of floating IP 7"):
        _fip().check_dns_ptr("203.0.113.8", "www.example.com")
    with pytest.raises(InvalidInput, match="is not an IP address"):
        _fip().check_dns_ptr("nope", None)
    six = _fip(type="ipv6", ip_address="2001:db8:1:2::/64")
    assert six.check_dns_ptr("2001:db8:1:2::1", None) == "2001:db8:1:2::1"
    with pytest.raises(InvalidInput):
        six.check_dns_ptr("2001:db8:1:3::1", "x.example.com")


def test_an_action_locks_it_a_second_is_refused_and_ending_one_unlocks_and_records() -> None:
    fip = _fip()
    action = fip.begin(fips.ASSIGN, {"server_id": 5}, NOW)
    assert (fip.locked, fip.version, action.status) == (True, 2, RUNNING)
    assert action.resources == [{"id": 7, "type": "floating_ip"}, {"id": 5, "type": "server"}]
    with pytest.raises(Locked):
        fip.begin(fips.UNASSIGN, {}, NOW)
    with pytest.raises(Locked):
        fip.change_protection(True, NOW)
    action.id = 10**12
    fip.assigned(action, 5, NOW)
    assert (fip.locked, fip.server_id, fip.version, action.status) == (False, 5, 3, SUCCESS)
    (event,) = fip.pop_events()
    assert (event.event_type, event.version) == ("floating_ip.assigned", 3)
    assert event.fields == {
        "floating_ip_id": 7,
        "user_id": 42,
        "organization_id": 0,
        "server_id": 5,
        "old_server_id": 0,
        "action_id": 10**12,
    }


def test_a_protected_floating_ip_is_not_deleted_and_a_deleted_one_records_it() -> None:
    fip = _fip()
    fip.change_protection(True, NOW)
    with pytest.raises(Protected):
        fip.delete(NOW)
    assert fip.deleted_at is None and not fip.locked
    fip.change_protection(False, NOW)
    action = fip.delete(NOW)
    assert action.command == fips.DELETE
    assert fip.deleted_at == NOW
    assert fip.locked
    assert [e.event_type for e in fip.pop_events()] == ["floating_ip.deleted"]


def test_a_failed_creation_leaves_no_floating_ip() -> None:
    fip = _fip(status=fips.CREATING, ip_address=None, hetzner_id=None)
    action = fip.begin(fips.CREATE, {}, NOW)
    fip.action_failed(action, "invalid_input", "refused", NOW)
    assert (action.status, action.error_code, fip.status, fip.deleted_at) == (ERROR, "invalid_input", "error", NOW)
    (event,) = fip.pop_events()
    assert (event.event_type, event.fields["reason"]) == ("floating_ip.deleted", "create_failed")


def test_an_update_records_only_what_changed() -> None:
    fip = _fip()
    assert fip.update("web", None, None) == []
    assert fip.pop_events() == []
    assert fip.update("front", "the front", {"env": "prod"}) == ["name", "description", "labels"]
    (event,) = fip.pop_events()
    assert event.fields["fields"] == ["name", "description", "labels"] and event.version == 2


def test_a_blocked_floating_ip_takes_no_change_until_unblocked() -> None:
    fip = _fip()
    assert fip.block("suspended") and not fip.block("suspended")
    for change in (
        lambda: fip.begin(fips.UNASSIGN, {}, NOW),
        lambda: fip.change_protection(True, NOW),
        lambda: fip.update("other", None, None),
        lambda: fip.delete(NOW),
    ):
        with pytest.raises(Locked, match="blocked"):
            change()
    assert fip.unblock() and not fip.unblock()
    assert [e.event_type for e in fip.pop_events()] == ["floating_ip.blocked", "floating_ip.unblocked"]
    fip.begin(fips.UNASSIGN, {}, NOW)


def test_an_erased_accounts_floating_ip_is_deleted_protected_or_not_but_not_while_busy() -> None:
    fip = _fip(protection_delete=True)
    action = fip.erase(NOW)
    assert action is not None and action.command == fips.DELETE and action.params == {"erased": True}
    assert (fip.blocked, fip.locked, fip.deleted_at) == (True, True, NOW)
    assert [e.fields.get("reason") for e in fip.pop_events()] == ["erased", "erased"]
    busy = _fip()
    busy.begin(fips.ASSIGN, {"server_id": 5}, NOW)
    assert busy.erase(NOW) is None
    assert busy.blocked and busy.deleted_at is None
