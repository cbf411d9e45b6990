"""Placement groups and load balancer types through the gateway with the real ``hcloud`` client
(``api_endpoint=<gateway>/v1``, a platform API token), compute's worker in a thread against the
in-process simulator. Every JSON answer is checked against Hetzner's OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hcloud import APIException, Client
from hcloud.images import Image
from hcloud.placement_groups import PlacementGroup
from hcloud.server_types import ServerType

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from tests.integration.gateway.test_servers_api import Worker, _client, _token
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_pg_id") as identity_url,
        mariadb.scratch_database("cp_test_pg_gw") as gateway_url,
        mariadb.scratch_database("cp_test_pg_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


@pytest.fixture(scope="module")
def running_worker(platform: LivePlatform) -> Iterator[Worker]:
    runner = Worker(platform)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def _upstream_groups(platform: LivePlatform) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{platform.simulator}/placement_groups", headers={"Authorization": f"Bearer {SIMULATOR_TOKEN}"}, timeout=5
    )
    answer.raise_for_status()
    return list(answer.json()["placement_groups"])


def _create(client: Client, name: str, group: int | None = None) -> int:
    answer = client.servers.create(
        name=name,
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        placement_group=PlacementGroup(id=group) if group is not None else None,
    )
    answer.action.wait_until_finished(max_retries=400)
    assert answer.server.id is not None
    return answer.server.id


def test_load_balancer_types_are_the_catalogs_at_the_platforms_prices(platform: LivePlatform) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "lbtypes@example.com"), checked)
    types = client.load_balancer_types.get_all()
    assert [t.name for t in types] == ["lb11", "lb21", "lb31"]
    lb11 = client.load_balancer_types.get_by_name("lb11")
    assert lb11 is not None and lb11.max_targets == 25 and lb11.max_services == 5
    assert lb11.prices is not None and lb11.id is not None
    assert {p["location"] for p in lb11.prices} == {"fsn1", "nbg1", "hel1", "ash", "hil"}
    price = lb11.prices[0]
    # billing's lb11 plan is the price (5.39 gross a month), with its traffic plan's 20 TB included
    assert price["price_monthly"]["gross"] == "5.3900000000" and price["included_traffic"] == 20 * 1024**4
    assert client.load_balancer_types.get_by_id(lb11.id).name == "lb11"
    page = client.load_balancer_types.get_list(page=2, per_page=1)
    assert page.meta.pagination is not None and page.meta.pagination.total_entries == 3
    assert [t.name for t in page.load_balancer_types] == ["lb21"]
    with pytest.raises(APIException) as missing:
        client.load_balancer_types.get_by_id(999_999)
    assert missing.value.code == "not_found"
    assert "GET /v1/load_balancer_types 200" in checked


def test_placement_groups_with_the_hcloud_client(platform: LivePlatform, running_worker: Worker) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "placement@example.com"), checked)
    created = client.placement_groups.create(name="web", type="spread", labels={"env": "prod"})
    assert created.action is None
    group = created.placement_group
    assert group.id is not None
    assert (group.name, group.type, group.servers, group.labels) == ("web", "spread", [], {"env": "prod"})
    with pytest.raises(APIException) as duplicate:
        client.placement_groups.create(name="web", type="spread")
    assert duplicate.value.code == "uniqueness_error"
    client.placement_groups.create(name="db", type="spread")
    assert [g.name for g in client.placement_groups.get_all(label_selector="env=prod")] == ["web"]
    assert [g.name for g in client.placement_groups.get_all(sort=["name:asc"])] == ["db", "web"]
    assert client.placement_groups.get_by_name("db") is not None
    listed = client.placement_groups.get_list(type="spread", page=1, per_page=1)
    assert listed.meta.pagination is not None and listed.meta.pagination.total_entries == 2
    assert len(listed.placement_groups) == 1

    # A server created in the group runs in the group upstream made for it.
    member_id = _create(client, "web-1", group.id)
    member = client.servers.get_by_id(member_id)
    assert member.placement_group is not None and member.placement_group.id == group.id
    assert client.placement_groups.get_by_id(group.id).servers == [member_id]
    assert len(_upstream_groups(platform)) == 1
    with pytest.raises(APIException) as in_use:
        client.placement_groups.delete(group)
    assert in_use.value.code == "resource_in_use"

    # Another server joins when it is off, and leaves.
    other_id = _create(client, "web-2")
    other = client.servers.get_by_id(other_id)
    with pytest.raises(APIException) as running:
        other.add_to_placement_group(PlacementGroup(id=group.id))
    assert running.value.code == "server_not_stopped"
    other.power_off().wait_until_finished(max_retries=400)
    other.add_to_placement_group(PlacementGroup(id=group.id)).wait_until_finished(max_retries=400)
    assert client.placement_groups.get_by_id(group.id).servers == sorted([member_id, other_id])
    member.remove_from_placement_group().wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(member_id).placement_group is None
    assert client.placement_groups.get_by_id(group.id).servers == [other_id]

    renamed = client.placement_groups.update(group, name="web-2", labels={})
    assert (renamed.name, renamed.labels) == ("web-2", {})
    client.servers.delete(other).wait_until_finished(max_retries=400)
    client.placement_groups.delete(group)
    assert client.placement_groups.get_by_name("web-2") is None
    assert _upstream_groups(platform) == []
    assert {"POST /v1/placement_groups 201", "GET /v1/placement_groups 200"} <= set(checked)
    assert f"POST /v1/servers/{other_id}/actions/add_to_placement_group 201" in checked


def test_another_tenants_group_is_not_found_and_bad_input_is_a_4xx(platform: LivePlatform) -> None:
    mine = _client(platform, _token(platform, "pg-mine@example.com"), [])
    theirs = _client(platform, _token(platform, "pg-theirs@example.com"), [])
    group = theirs.placement_groups.create(name="private", type="spread").placement_group
    group_id = group.id
    assert group_id is not None
    for call in (
        lambda: mine.placement_groups.get_by_id(group_id),
        lambda: mine.placement_groups.update(group, name="stolen"),
        lambda: mine.placement_groups.delete(group),
    ):
        with pytest.raises(APIException) as hidden:
            call()
        assert hidden.value.code == "not_found"
    assert mine.placement_groups.get_all() == []
    with pytest.raises(APIException) as foreign:  # a server may not join another tenant's group
        mine.servers.create(
            name="sneaky",
            server_type=ServerType(name="cx22"),
            image=Image(name="ubuntu-24.04"),
            placement_group=PlacementGroup(id=group.id),
        )
    assert foreign.value.code == "invalid_input"

    token = _token(platform, "pg-raw@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    for body in ({"name": "x", "type": "cluster"}, {"type": "spread"}, {"name": "", "type": "spread"}, "nonsense"):
        answer = httpx.post(f"{platform.gateway}/v1/placement_groups", json=body, headers=headers, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input", answer.text
    answer = httpx.post(
        f"{platform.gateway}/v1/servers/1/actions/add_to_placement_group",
        json={"placement_group": "abc"},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    answer = httpx.get(f"{platform.gateway}/v1/placement_groups?sort=colour", headers=headers, timeout=10)
    assert answer.status_code == 400, answer.text
