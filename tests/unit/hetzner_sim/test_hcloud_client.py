"""The simulator driven by the real ``hcloud`` client, every JSON answer checked against the spec."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hcloud import APIException, Client
from hcloud.actions import ActionFailedException
from hcloud.images import Image
from hcloud.isos import Iso
from hcloud.server_types import ServerType
from hcloud.servers import BoundServer, ServerCreatePublicNetwork

from tests.unit.hetzner_sim.conftest import OTHER_TOKEN, Sim


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " someone@example"


def create(client: Client, name: str, labels: dict[str, str] | None = None, **kwargs: object) -> BoundServer:
    answer = client.servers.create(
        name=name,
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        labels=labels,
        **kwargs,
    )
    answer.action.wait_until_finished()
    for action in answer.next_actions:
        action.wait_until_finished()
    return client.servers.get_by_id(answer.server.id)


def api_error(excinfo: pytest.ExceptionInfo[APIException]) -> object:
    return excinfo.value.code


# -- catalog ------------------------------------------------------------------------------


def test_catalog(client: Client) -> None:
    types = {st.name: st for st in client.server_types.get_all()}
    assert {"cx22", "cx32", "cx42", "cpx11", "cpx21", "cax11", "ccx13"} <= set(types)
    assert types["cx22"].cores == 2 and types["cx22"].memory == 4 and types["cx22"].disk == 40
    assert types["cax11"].architecture == "arm"
    assert {loc.name for loc in client.locations.get_all()} == {"fsn1", "nbg1", "hel1", "ash", "hil"}
    assert client.locations.get_by_id(1).name == "fsn1"
    ubuntu = client.images.get_by_name_and_architecture("ubuntu-24.04", "x86")
    assert ubuntu is not None and ubuntu.type == "system"
    assert client.images.get_by_id(ubuntu.id).os_flavor == "ubuntu"
    assert client.server_types.get_by_id(types["cx32"].id).name == "cx32"


def test_datacenters_and_pricing_answer_the_spec(sim: Sim) -> None:
    for path in ("/datacenters", "/datacenters/4", "/pricing", "/server_types/104", "/images?type=system"):
        response = sim.raw("GET", path)
        assert response.status_code == 200
        sim.check(response)


# -- SSH keys -----------------------------------------------------------------------------


def test_ssh_keys(client: Client) -> None:
    text = public_key()
    key = client.ssh_keys.create(name="laptop", public_key=text, labels={"team": "a"})
    blob = base64.b64decode(text.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    assert key.fingerprint == ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    assert client.ssh_keys.get_by_fingerprint(key.fingerprint).id == key.id
    assert [k.id for k in client.ssh_keys.get_all(label_selector="team=a")] == [key.id]
    assert client.ssh_keys.get_all(label_selector="team!=a") == []
    with pytest.raises(APIException) as duplicate_name:
        client.ssh_keys.create(name="laptop", public_key=public_key())
    assert api_error(duplicate_name) == "uniqueness_error"
    with pytest.raises(APIException) as duplicate_key:
        client.ssh_keys.create(name="other", public_key=text)
    assert api_error(duplicate_key) == "uniqueness_error"
    with pytest.raises(APIException) as invalid:
        client.ssh_keys.create(name="broken", public_key="ssh-ed25519 AAAAnotakey")
    assert api_error(invalid) == "invalid_input"
    updated = client.ssh_keys.update(key, name="desk", labels={"team": "b"})
    assert updated.name == "desk" and updated.labels == {"team": "b"}
    client.ssh_keys.delete(key)
    with pytest.raises(APIException) as gone:
        client.ssh_keys.get_by_id(key.id)
    assert api_error(gone) == "not_found"


# -- servers ------------------------------------------------------------------------------


def test_server_lifecycle(sim: Sim, client: Client) -> None:
    key = client.ssh_keys.create(name="k", public_key=public_key())
    answer = client.servers.create(
        name="web-1",
        server_type=ServerType(name="cx22"),
        image=Image(name="ubuntu-24.04"),
        ssh_keys=[key],
        labels={"env": "prod"},
        public_net=ServerCreatePublicNetwork(enable_ipv4=True, enable_ipv6=True),
    )
    assert answer.root_password is None
    answer.action.wait_until_finished()
    server = client.servers.get_by_id(answer.server.id)
    assert server.status == "running" and not server.locked
    assert server.public_net.ipv4.ip.startswith(("203.0.113.", "198.51.100."))
    assert server.public_net.ipv6.ip.endswith("/64")
    assert server.labels == {"env": "prod"}

    server.power_off().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "off"
    server.power_on().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "running"
    server.reboot().wait_until_finished()
    server.shutdown().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "off"

    rebuilt = server.rebuild(Image(name="debian-12"))
    rebuilt.action.wait_until_finished()
    server = client.servers.get_by_id(server.id)
    assert server.image.name == "debian-12" and server.status == "running"

    rescue = server.enable_rescue()
    rescue.action.wait_until_finished()
    assert rescue.root_password and client.servers.get_by_id(server.id).rescue_enabled
    server.disable_rescue().wait_until_finished()

    server.attach_iso(Iso(name="virtio-win-0.1.248.iso")).wait_until_finished()
    assert client.servers.get_by_id(server.id).iso.name == "virtio-win-0.1.248.iso"
    server.detach_iso().wait_until_finished()
    server.enable_backup().wait_until_finished()
    assert client.servers.get_by_id(server.id).backup_window
    server.disable_backup().wait_until_finished()
    server.change_dns_ptr(server.public_net.ipv4.ip, "web-1.example.com").wait_until_finished()
    assert client.servers.get_by_id(server.id).public_net.ipv4.dns_ptr == "web-1.example.com"
    console = server.request_console()
    assert console.wss_url.startswith("ws://") and console.password  # the simulator's own (test_console.py)
    assert server.reset_password().root_password

    image_answer = server.create_image(description="before upgrade", labels={"kind": "golden"})
    image_answer.action.wait_until_finished()
    snapshot = client.images.get_by_id(image_answer.image.id)
    assert snapshot.type == "snapshot" and snapshot.status == "available"
    assert snapshot.created_from.id == server.id
    assert [i.id for i in client.images.get_all(type="snapshot", label_selector="kind=golden")] == [snapshot.id]

    end = datetime.now(UTC)
    metrics = server.get_metrics(type=["cpu", "network"], start=end - timedelta(minutes=10), end=end, step=60)
    assert set(metrics.metrics.time_series) >= {"cpu", "network.0.bandwidth.in"}
    assert len(metrics.metrics.time_series["cpu"]["values"]) == 11

    actions = server.get_actions_list(sort=["id:desc"], per_page=5)
    assert len(actions.actions) == 5 and actions.meta.pagination.total_entries > 5
    assert client.actions.get_by_id(actions.actions[0].id).status == "success"

    server.update(name="web-2", labels={"env": "staging"})
    assert client.servers.get_by_name("web-2").labels == {"env": "staging"}
    in_use = sim.control("GET", "state")["ipv4_in_use"]
    server.delete().wait_until_finished()
    assert client.servers.get_by_name("web-2") is None
    assert sim.control("GET", "state")["ipv4_in_use"] == in_use - 1


def test_root_password_without_ssh_keys(client: Client) -> None:
    answer = client.servers.create(name="pw", server_type=ServerType(name="cpx11"), image=Image(name="debian-12"))
    assert answer.root_password


def test_change_type_rules(client: Client) -> None:
    server = create(client, "resize")
    with pytest.raises(APIException) as running:
        server.change_type(ServerType(name="cx32"), upgrade_disk=False)
    assert api_error(running) == "server_not_stopped"
    server.power_off().wait_until_finished()
    server.change_type(ServerType(name="cx32"), upgrade_disk=False).wait_until_finished()
    server = client.servers.get_by_id(server.id)
    assert server.server_type.name == "cx32" and server.primary_disk_size == 40
    # The disk was kept, so going back fits.
    server.change_type(ServerType(name="cx22"), upgrade_disk=True).wait_until_finished()
    server.change_type(ServerType(name="cx42"), upgrade_disk=True).wait_until_finished()
    assert client.servers.get_by_id(server.id).primary_disk_size == 160
    with pytest.raises(APIException) as shrink:
        server.change_type(ServerType(name="cx22"), upgrade_disk=False)
    assert api_error(shrink) == "invalid_input"
    with pytest.raises(APIException) as arm:
        server.change_type(ServerType(name="cax21"), upgrade_disk=True)
    assert api_error(arm) == "invalid_input"


def test_list_label_selector_sort_and_pagination_over_more_than_50(client: Client) -> None:
    for i in range(60):
        create(client, f"node-{i:02d}", labels={"env": "prod" if i % 2 else "dev", "index": str(i)})
    everything = client.servers.get_all()
    assert len(everything) == 60
    prod = client.servers.get_all(label_selector="env=prod")
    assert len(prod) == 30 and all(s.labels["env"] == "prod" for s in prod)
    assert len(client.servers.get_all(label_selector="env in (prod,dev),index notin (1,2)")) == 58
    page = client.servers.get_list(page=2, per_page=25)
    assert page.meta.pagination.total_entries == 60 and page.meta.pagination.last_page == 3
    assert page.servers[0].name == "node-25"
    by_name = client.request("GET", "/servers", params={"sort": "name:desc", "page": 2, "per_page": 25})
    assert by_name["servers"][0]["name"] == "node-34"
    assert client.servers.get_all(status=["off"]) == []
    with pytest.raises(APIException) as bad:
        client.servers.get_all(label_selector="env=(")
    assert api_error(bad) == "invalid_input"


def test_name_uniqueness_and_resource_limit(sim: Sim, client: Client) -> None:
    create(client, "one")
    with pytest.raises(APIException) as duplicate:
        create(client, "one")
    assert api_error(duplicate) == "uniqueness_error"
    # Another project (token) may use the same name.
    create(sim.client(OTHER_TOKEN), "one")
    sim.control("PATCH", "config", {"max_servers": 2})
    create(client, "two")
    with pytest.raises(APIException) as limit:
        create(client, "three")
    assert api_error(limit) == "resource_limit_exceeded"


def test_protection(client: Client) -> None:
    server = create(client, "precious")
    server.change_protection(delete=True, rebuild=True).wait_until_finished()
    assert client.servers.get_by_id(server.id).protection == {"delete": True, "rebuild": True}
    with pytest.raises(APIException) as delete:
        server.delete()
    assert api_error(delete) == "protected"
    with pytest.raises(APIException) as rebuild:
        server.rebuild(Image(name="debian-12"))
    assert api_error(rebuild) == "protected"
    server.change_protection(delete=False, rebuild=False).wait_until_finished()
    server.delete().wait_until_finished()


def test_actions_run_over_time_and_lock_the_server(sim: Sim, client: Client) -> None:
    server = create(client, "slow")
    sim.control("PATCH", "config", {"action_seconds": 10})
    action = server.power_off()
    assert action.status == "running" and action.finished is None
    sim.clock.advance(4)
    polled = client.actions.get_by_id(action.id)
    assert polled.status == "running" and 30 <= polled.progress < 60
    assert client.servers.get_by_id(server.id).locked
    with pytest.raises(APIException) as locked:
        server.reboot()
    assert api_error(locked) == "locked"
    assert client.servers.get_by_id(server.id).status == "stopping"
    sim.clock.advance(6)
    done = client.actions.get_by_id(action.id)
    assert done.status == "success" and done.progress == 100 and done.finished is not None
    assert client.servers.get_by_id(server.id).status == "off"
    server.power_on()  # no longer locked


def test_unauthorized(sim: Sim) -> None:
    with pytest.raises(APIException) as wrong:
        sim.client("wrong-token").servers.get_all()
    assert api_error(wrong) == "unauthorized"
    answer = sim.raw("GET", "/servers", token="")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


def test_rate_limit_headers_on_every_answer(sim: Sim) -> None:
    ok = sim.raw("GET", "/servers")
    missing = sim.raw("GET", "/servers/1")
    for answer in (ok, missing):
        assert int(answer.headers["RateLimit-Limit"]) == 3600
        assert int(answer.headers["RateLimit-Remaining"]) < 3600
        assert int(answer.headers["RateLimit-Reset"]) > 0
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_the_real_rate_limit(sim: Sim, client: Client) -> None:
    sim.control("PATCH", "config", {"rate_limit": 3})
    for _ in range(3):
        assert sim.raw("GET", "/servers").status_code == 200
    refused = sim.raw("GET", "/servers")
    assert refused.status_code == 429 and refused.headers["RateLimit-Remaining"] == "0"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    sim.clock.advance(2)  # refills one request a second
    assert sim.raw("GET", "/servers").status_code == 200


# -- faults, as the client sees them ------------------------------------------------------


def test_fault_error(sim: Sim, client: Client) -> None:
    sim.fault(method="GET", path="/v1/servers", kind="error", code="service_error", message="boom", times=1)
    with pytest.raises(APIException) as failed:
        client.servers.get_all()
    assert api_error(failed) == "service_error" and failed.value.message == "boom"
    assert client.servers.get_all() == []


def test_fault_rate_limit_is_retried_by_the_client(sim: Sim, client: Client) -> None:
    rule = sim.fault(method="POST", path="/v1/servers", kind="rate_limit", times=2)
    server = create(client, "patient")
    assert server.status == "running"
    assert sim.control("GET", "faults")["faults"][0]["fired"] == 2 == rule["times"]
    refused = sim.fault(method="GET", path="/v1/servers", kind="rate_limit", times=1)
    answer = sim.raw("GET", "/servers")
    assert answer.status_code == 429 and answer.headers["RateLimit-Remaining"] == "0"
    assert refused["id"] > rule["id"]


def test_fault_conflict_is_retried_by_the_client(sim: Sim, client: Client) -> None:
    sim.fault(method="GET", path="/v1/servers", kind="error", code="conflict", times=3)
    assert client.servers.get_all() == []


def test_fault_latency(sim: Sim, client: Client) -> None:
    sim.fault(method="GET", path="/v1/locations", kind="latency", seconds=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        sim.raw("GET", "/locations", timeout=0.1)
    assert len(client.locations.get_all()) == 5


def test_fault_timeout_is_retried_by_the_client(sim: Sim) -> None:
    rule = sim.fault(method="GET", path="/v1/server_types", kind="timeout", seconds=0.6, times=1)
    client = sim.client(timeout=0.2)
    assert len(client.server_types.get_all()) > 5
    assert sim.control("GET", "faults")["faults"][0]["fired"] == 1 == rule["times"]
    hung = sim.fault(method="GET", path="/v1/pricing", kind="timeout", seconds=0.1, times=1)
    answer = sim.raw("GET", "/pricing")
    assert hung and answer.status_code == 504 and answer.json()["error"]["code"] == "timeout"


def test_fault_action_error(sim: Sim, client: Client) -> None:
    server = create(client, "fragile")
    sim.fault(method="POST", path="/v1/servers/*/actions/poweroff", kind="action_error", code="action_failed")
    action = server.power_off()
    with pytest.raises(ActionFailedException) as failed:
        action.wait_until_finished()
    assert failed.value.action.error["code"] == "action_failed"
    assert client.servers.get_by_id(server.id).status == "running"  # the effect did not apply


def test_fault_drop_after_the_state_changed_with_502(sim: Sim, client: Client) -> None:
    sim.fault(method="POST", path="/v1/servers", kind="drop", mode="502", times=1)
    # The client retries the 502; the first attempt did create the server.
    with pytest.raises(APIException) as retried:
        create(client, "ghost")
    assert api_error(retried) == "uniqueness_error"
    assert [s.name for s in client.servers.get_all()] == ["ghost"]


def test_fault_drop_after_the_state_changed_with_a_closed_connection(sim: Sim, client: Client) -> None:
    sim.fault(method="POST", path="/v1/ssh_keys", kind="drop", mode="close", times=1)
    with pytest.raises(requests.exceptions.RequestException):
        client.ssh_keys.create(name="lost", public_key=public_key())
    assert client.ssh_keys.get_by_name("lost") is not None


def test_control_endpoints(sim: Sim) -> None:
    rule = sim.fault(method="GET", path="/v1/servers", kind="error", code="maintenance")
    assert sim.raw("GET", "/servers").status_code == 503
    sim.control("DELETE", f"faults/{rule['id']}")
    assert sim.raw("GET", "/servers").status_code == 200
    assert sim.control("GET", "config")["action_seconds"] == 0
    with pytest.raises(requests.HTTPError):
        sim.control("PATCH", "config", {"no_such_setting": 1})
    assert requests.get(f"{sim.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert sim.control("GET", "state")["faults"] == 0
