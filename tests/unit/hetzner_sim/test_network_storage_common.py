"""What every network and storage resource shares: pagination, sorting, 404s, action routes, state."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client
from hcloud.locations import Location

from tests.unit.hetzner_sim.conftest import Sim
from tests.unit.hetzner_sim.test_hcloud_client import api_error

FAMILIES = ("floating_ips", "primary_ips", "networks", "firewalls", "load_balancers", "volumes")


def test_pagination_and_sorting(sim: Sim, client: Client) -> None:
    sim.control("PATCH", "config", {"max_volumes": 60})
    for i in range(55):
        client.volumes.create(size=10, name=f"vol-{i:02d}", location=Location(name="nbg1"), labels={"i": str(i % 2)})
    assert len(client.volumes.get_all()) == 55
    assert len(client.volumes.get_all(label_selector="i=1")) == 27
    page = client.volumes.get_list(page=3, per_page=20)
    assert page.meta.pagination.total_entries == 55 and page.meta.pagination.last_page == 3
    assert [v.name for v in page.volumes][:2] == ["vol-40", "vol-41"] and len(page.volumes) == 15
    by_name = client.request("GET", "/volumes", params={"sort": "name:desc", "per_page": 2})
    assert [v["name"] for v in by_name["volumes"]] == ["vol-54", "vol-53"]
    with pytest.raises(APIException) as bad:
        client.volumes.get_all(label_selector="i in (")
    assert api_error(bad) == "invalid_input"


def test_unknown_ids_actions_and_state(sim: Sim, client: Client) -> None:
    for family in FAMILIES:
        for path in (f"/{family}/1", f"/{family}/1/actions", f"/{family}/actions/1"):
            response = sim.raw("GET", path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
            sim.check(response)
        listing = sim.raw("GET", f"/{family}/actions")
        assert listing.status_code == 200 and listing.json()["actions"] == []
        sim.check(listing)
    fip = client.floating_ips.create(type="ipv4", home_location=Location(name="fsn1")).floating_ip
    client.floating_ips.change_protection(fip, delete=True).wait_until_finished()
    action_id = client.floating_ips.get_actions(fip)[0].id
    assert sim.raw("GET", f"/volumes/actions/{action_id}").status_code == 404
    assert sim.raw("GET", f"/floating_ips/actions/{action_id}").status_code == 200
    state = sim.control("GET", "state")["projects"]["project-1"]
    assert state["floating_ips"] == 1 and state["volumes"] == 0
    answer = sim.raw("POST", "/volumes", json={"name": "x"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    sim.check(answer)
