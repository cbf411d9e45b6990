"""The firewall aggregate's rules: rule checks (direction, protocol, ports, CIDRs, description,
at most 50 rules), applying to servers and label selectors (a server that matches later is
covered), resource_in_use on delete, locking, blocking, and the events each change records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cpshared.aggregate import pending_events
from cpshared.errors import InvalidInput
from network_service.domain import firewalls as fws
from network_service.domain.actions import Locked
from network_service.domain.firewalls import Firewall, check_rule, check_rules
from network_service.domain.networks import ResourceInUse

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SSH: dict[str, Any] = {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0", "::/0"]}


def test_a_good_rule_is_kept_in_its_normal_form() -> None:
    rule = check_rule("in", "tcp", "1024-2048", ["10.0.0.0/8", "2001:db8::/32"], None, "apps")
    assert rule == fws.Rule("in", "tcp", "1024-2048", ("10.0.0.0/8", "2001:db8::/32"), (), "apps")
    assert check_rule("out", "icmp", None, None, ["0.0.0.0/0"]).port is None
    assert fws.Rule.of(rule.as_dict()) == rule


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({**SSH, "port": "0-70000"}, "port"),
        ({**SSH, "port": "70000"}, "port"),
        ({**SSH, "port": "90-80"}, "port"),
        ({**SSH, "port": "http"}, "port"),
        ({**SSH, "port": None}, "port"),
        ({**SSH, "protocol": "icmp"}, "port"),  # icmp has no ports
        ({**SSH, "source_ips": ["10.0.0.0/33"]}, "source_ips"),
        ({**SSH, "source_ips": ["10.0.0.1/8"]}, "source_ips"),
        ({**SSH, "source_ips": []}, "source_ips"),
        ({**SSH, "destination_ips": ["10.0.0.0/8"]}, "source_ips"),
        ({"direction": "out", "protocol": "udp", "port": "53", "source_ips": ["10.0.0.0/8"]}, "destination_ips"),
        ({**SSH, "direction": "sideways"}, "direction"),
        ({**SSH, "protocol": "sctp"}, "protocol"),
        ({**SSH, "description": "x" * 256}, "description"),
        ({**SSH, "source_ips": [f"10.0.{n}.0/24" for n in range(101)]}, "source_ips"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_rules([rule])
    assert caught.value.details["fields"][0]["name"] == field  # type: ignore[index]


def test_a_rule_list_of_ten_thousand_is_refused_before_any_rule_is_looked_at() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_rules([SSH] * 10_000)
    assert caught.value.details["fields"][0]["name"] == "rules"  # type: ignore[index]
    assert len(check_rules([SSH] * fws.MAX_RULES)) == fws.MAX_RULES


def _firewall() -> Firewall:
    return Firewall(id=9, user_id=42, organization_id=None, name="web")


def test_applied_by_selector_it_covers_a_server_created_later_whose_labels_match() -> None:
    fw = _firewall()
    servers, selectors = fw.check_apply([5], ["env=prod,role in (web,api)"])
    fw.completed(fw.begin(fws.APPLY, {"servers": servers, "selectors": selectors}, NOW), NOW)
    assert fw.covers(5, {})
    assert fw.covers(77, {"env": "prod", "role": "api"})  # a server made afterwards
    assert not fw.covers(78, {"env": "prod", "role": "db"})
    with pytest.raises(fws.FirewallAlreadyApplied):
        fw.check_apply([5], [])
    with pytest.raises(fws.ServerAlreadyAdded):
        fw.check_apply([8, 8], [])
    with pytest.raises(InvalidInput):
        fw.check_apply([], ["env in (a"])
    with pytest.raises(fws.FirewallAlreadyRemoved):
        fw.check_remove([6], [])


def test_set_rules_apply_remove_delete_and_their_events() -> None:
    fw = _firewall()
    rules = [r.as_dict() for r in check_rules([SSH])]
    fw.completed(fw.begin(fws.SET_RULES, {"rules": rules}, NOW), NOW)
    assert [r.port for r in fw.rules] == ["22"]
    fw.completed(fw.begin(fws.APPLY, {"servers": [5], "selectors": ["env=prod"]}, NOW), NOW)
    with pytest.raises(ResourceInUse):
        fw.delete(NOW)
    assert fw.server_gone(5) and not fw.server_gone(5)
    fw.completed(fw.begin(fws.REMOVE, {"servers": [], "selectors": ["env=prod"]}, NOW), NOW)
    fw.delete(NOW)
    assert fw.deleted_at == NOW
    events = pending_events(fw, "network")
    assert [e.envelope.event_type for e in events] == [
        "firewall.rules_set",
        "firewall.applied",
        "firewall.removed",
        "firewall.removed",
        "firewall.deleted",
    ]


def test_locked_while_an_action_runs_and_blocked_while_suspended() -> None:
    fw = _firewall()
    fw.begin(fws.SET_RULES, {"rules": []}, NOW)
    with pytest.raises(Locked):
        fw.begin(fws.APPLY, {"servers": [], "selectors": []}, NOW)
    fw.locked = False
    assert fw.block("suspended") and not fw.block("suspended")
    with pytest.raises(Locked):
        fw.begin(fws.SET_RULES, {"rules": []}, NOW)
    assert fw.unblock() and not fw.unblock()
