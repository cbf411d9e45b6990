"""Private networks through the gateway with the real ``hcloud`` client (``api_endpoint=<gateway>/v1``,
a platform API token). Compute's and network's workers run in threads against the in-process
simulator. A network with two subnets and a route; a server attached with an alias IP (its
Hetzner view shows ``private_net``), detached; the network deleted: nothing is left upstream.
Bad input answers 4xx in Hetzner's format and changes nothing here or upstream; every JSON
answer is checked against Hetzner's OpenAPI document."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from hcloud import APIException, Client
from hcloud.networks import NetworkRoute, NetworkSubnet

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer.provisioning import Provisioner
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus
from identity_service.service_layer import api_keys, users
from identity_service.service_layer import staff as identity_staff
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_networks import NETWORK_LABEL, HcloudNetworks
from network_service.config import WorkerSettings as NetworkWorkerSettings
from network_service.entrypoints import worker as network_worker
from network_service.entrypoints.server_projection import ServerProjection
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.gateway.test_floating_ips_api import _server, _token, _upstream
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.unit.hetzner_sim import spec


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_net_id") as identity_url,
        mariadb.scratch_database("cp_test_net_gw") as gateway_url,
        mariadb.scratch_database("cp_test_net_cp") as compute_url,
        mariadb.scratch_database("cp_test_net_nw") as network_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("network", network_url),
        ):
            upgrade(service, migrations_dir(service), url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as live:
            yield live


@pytest.fixture(scope="module")
def workers(platform: LivePlatform) -> Iterator[None]:
    assert platform.compute is not None and platform.network is not None and platform.simulator is not None
    fast = RetryPolicy(attempts=3, initial_seconds=0.05)
    compute = Provisioner(
        platform.compute.uow, HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=fast), platform.compute.quotas
    )
    network = NetworkProvisioner(
        platform.network.uow,
        HcloudFloatingIps(platform.simulator, SIMULATOR_TOKEN, retry=fast),
        platform.network.quotas,
        platform.network.compute,
        networks=HcloudNetworks(platform.simulator, SIMULATOR_TOKEN, retry=fast),
        network_quotas=platform.network.network_quotas,
    )
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=compute_worker.run,
            args=(
                compute,
                WorkerSettings.model_construct(
                    worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
                ),
                stop,
            ),
            daemon=True,
        ),
        threading.Thread(
            target=network_worker.run,
            args=(
                network,
                NetworkWorkerSettings.model_construct(
                    worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
                ),
                stop,
            ),
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def _client(platform: LivePlatform, token: str, checked: list[str]) -> Any:
    client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            path = (response.request.path_url or "").split("?")[0]
            spec.validate(str(response.request.method), path, response.status_code, response.json())
            checked.append(f"{response.request.method} {path} {response.status_code}")

    client._client._session.hooks["response"].append(check)
    return client


def _labelled(platform: LivePlatform, network_id: int) -> list[Any]:
    found: list[Any] = _upstream(platform).networks.get_all(label_selector=f"{NETWORK_LABEL}={network_id}")
    return found


def _wait_until_gone_upstream(platform: LivePlatform, network_id: int) -> None:
    deadline = time.monotonic() + 20
    while _labelled(platform, network_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _labelled(platform, network_id) == []


def test_a_network_with_subnets_and_a_route_gets_a_server_with_an_alias_ip_and_goes(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "net@example.com"), checked)
    network = client.networks.create(
        name="backend",
        ip_range="10.0.0.0/16",
        subnets=[
            NetworkSubnet(ip_range="10.0.1.0/24", type="cloud", network_zone="eu-central"),
            NetworkSubnet(ip_range="10.0.2.0/24", type="cloud", network_zone="us-east"),
        ],
        routes=[NetworkRoute(destination="10.100.1.0/24", gateway="10.0.1.10")],
        labels={"env": "test"},
    )
    assert [s.ip_range for s in network.subnets] == ["10.0.1.0/24", "10.0.2.0/24"]
    assert network.subnets[0].gateway == "10.0.0.1"
    (upstream,) = _labelled(platform, network.id)
    assert sorted(s.ip_range for s in upstream.subnets) == ["10.0.1.0/24", "10.0.2.0/24"]
    assert [(r.destination, r.gateway) for r in upstream.routes] == [("10.100.1.0/24", "10.0.1.10")]

    server = _server(client, "attached")
    client.servers.attach_to_network(server, network, alias_ips=["10.0.1.50"]).wait_until_finished(max_retries=400)
    seen = client.servers.get_by_id(server.id)
    (private,) = seen.private_net
    assert (private.network.id, private.ip, private.alias_ips) == (network.id, "10.0.1.2", ["10.0.1.50"])
    assert private.mac_address
    assert [s.id for s in client.networks.get_by_id(network.id).servers] == [server.id]
    listed = {s.id: [p.network.id for p in s.private_net] for s in client.servers.get_all()}
    assert listed == {server.id: [network.id]}
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    assert [(p.ip, p.alias_ips) for p in upstream_server.private_net] == [("10.0.1.2", ["10.0.1.50"])]

    client.servers.change_alias_ips(server, network, ["10.0.1.51"]).wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server.id).private_net[0].alias_ips == ["10.0.1.51"]
    with pytest.raises(APIException) as in_use:
        client.networks.delete_subnet(network, NetworkSubnet(ip_range="10.0.1.0/24"))
    assert in_use.value.code == "resource_in_use"
    client.servers.detach_from_network(server, network).wait_until_finished(max_retries=400)
    assert client.servers.get_by_id(server.id).private_net == []
    assert _upstream(platform).servers.get_by_id(upstream_server.id).private_net == []

    client.networks.change_protection(network, delete=True).wait_until_finished(max_retries=400)
    with pytest.raises(APIException) as protected:
        client.networks.delete(network)
    assert protected.value.code == "protected"
    client.networks.change_protection(network, delete=False).wait_until_finished(max_retries=400)
    actions = client.networks.get_actions_list(network).actions
    assert {"create_network", "attach_to_network", "change_alias_ips", "detach_from_network"} <= {
        a.command for a in actions
    }
    client.networks.delete(network)
    _wait_until_gone_upstream(platform, network.id)
    with pytest.raises(APIException) as gone:
        client.networks.get_by_id(network.id)
    assert gone.value.code == "not_found"
    client.servers.delete(server).wait_until_finished(max_retries=400)
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def test_bad_input_is_refused_in_hetzners_format_and_changes_nothing(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "net-bad@example.com"), checked)
    stranger = _client(platform, _token(platform, "net-stranger@example.com"), checked)
    before = len(_upstream(platform).networks.get_all())

    def refused(call: Any) -> str:
        with pytest.raises(APIException) as caught:
            call()
        return str(caught.value.code)

    for ip_range in ("10.0.0.0/33", "8.8.8.0/24", "10.0.0.0/25", "not-a-range"):
        assert refused(lambda r=ip_range: client.networks.create(name=f"bad-{r}", ip_range=r)) == "invalid_input"
    too_many = [
        NetworkRoute(destination=f"10.{200 + n // 250}.{n % 250}.0/24", gateway="10.0.0.5") for n in range(10_000)
    ]
    assert refused(lambda: client.networks.create(name="routes", ip_range="10.0.0.0/8", routes=too_many)) == (
        "invalid_input"
    )
    overlapping = [
        NetworkSubnet(ip_range="10.0.1.0/24", type="cloud", network_zone="eu-central"),
        NetworkSubnet(ip_range="10.0.1.128/25", type="cloud", network_zone="eu-central"),
    ]
    assert refused(lambda: client.networks.create(name="ov", ip_range="10.0.0.0/16", subnets=overlapping)) == (
        "invalid_input"
    )
    assert client.networks.get_all() == []
    assert len(_upstream(platform).networks.get_all()) == before

    network = client.networks.create(
        name="kept",
        ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(ip_range="10.0.1.0/24", type="cloud", network_zone="eu-central")],
    )
    server = _server(client, "bad-attach")
    far = _server(client, "far", location="ash")
    bad_subnet = NetworkSubnet(ip_range="10.0.1.0/25", type="cloud", network_zone="eu-central")
    assert refused(lambda: client.networks.add_subnet(network, bad_subnet)) == "invalid_input"
    assert refused(lambda: client.networks.change_ip_range(network, "10.0.0.0/17")) == "invalid_input"
    assert refused(lambda: client.servers.attach_to_network(server, network, ip="10.0.9.9")) == "ip_not_available"
    assert refused(lambda: client.servers.attach_to_network(far, network)) == "no_subnet_available"
    assert refused(lambda: client.servers.detach_from_network(server, network)) == "server_not_attached_to_network"
    assert refused(lambda: stranger.networks.get_by_id(network.id)) == "not_found"
    assert refused(lambda: stranger.servers.attach_to_network(server, network)) == "not_found"
    unchanged = client.networks.get_by_id(network.id)
    assert ([s.ip_range for s in unchanged.subnets], unchanged.ip_range, unchanged.servers) == (
        ["10.0.1.0/24"],
        "10.0.0.0/16",
        [],
    )
    (upstream,) = _labelled(platform, network.id)
    assert ([s.ip_range for s in upstream.subnets], upstream.ip_range) == (["10.0.1.0/24"], "10.0.0.0/16")
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)
    client.networks.delete(network)
    _wait_until_gone_upstream(platform, network.id)


def test_a_deleted_server_leaves_its_networks(platform: LivePlatform, workers: None) -> None:
    """Compute's ``server.deleted``, applied by network's projection as its consumer would
    (redelivered: nothing twice), detaches the server: no dangling attachment."""
    assert platform.compute is not None and platform.network is not None
    client = _client(platform, _token(platform, "net-reaction@example.com"), [])
    network = client.networks.create(
        name="left",
        ip_range="10.5.0.0/16",
        subnets=[NetworkSubnet(ip_range="10.5.1.0/24", type="cloud", network_zone="eu-central")],
    )
    server = _server(client, "doomed")
    client.servers.attach_to_network(server, network).wait_until_finished(max_retries=400)
    client.servers.delete(server).wait_until_finished(max_retries=400)
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope).where(
                outbox.c.event_type == "server.deleted", outbox.c.message_key == str(server.id)
            )
        ).all()
    records = [
        RawRecord(row.topic, 0, n, row.message_key.encode(), row.envelope) for n, row in enumerate([*rows, *rows])
    ]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)
    assert client.networks.get_by_id(network.id).servers == []
    with platform.network.engine.connect() as conn:
        detached = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.event_type == "network.server_detached", outbox.c.message_key == str(network.id))
        ).scalar_one()
    assert detached == 1
    client.networks.delete(network)
    _wait_until_gone_upstream(platform, network.id)


def test_deleting_a_network_detaches_its_servers(platform: LivePlatform, workers: None) -> None:
    """Hetzner's rule: attached resources are detached automatically, here and upstream."""
    client = _client(platform, _token(platform, "net-detach@example.com"), [])
    network = client.networks.create(
        name="dropped",
        ip_range="10.6.0.0/16",
        subnets=[NetworkSubnet(ip_range="10.6.1.0/24", type="cloud", network_zone="eu-central")],
    )
    server = _server(client, "kept")
    client.servers.attach_to_network(server, network).wait_until_finished(max_retries=400)
    client.networks.delete(network)
    assert client.servers.get_by_id(server.id).private_net == []
    _wait_until_gone_upstream(platform, network.id)
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    assert upstream_server.private_net == []
    client.servers.delete(server).wait_until_finished(max_retries=400)


def test_the_network_quota_is_kept_and_given_back(platform: LivePlatform, workers: None) -> None:
    """Identity's ``network`` quota: the one past the limit is ``403 resource_limit_exceeded``
    with nothing made here or upstream; a deleted network gives its unit back."""
    user = users.create_user(
        commands.CreateUser(
            name="Quota", email="net-quota@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    admin = users.create_user(
        commands.CreateUser(
            name="Quota Admin",
            email="net-quota-admin@example.com",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    identity_staff.set_quota_limit(
        identity_staff.SetQuotaLimit(
            acting_user_id=admin.id, owner=QuotaOwner(user_id=user.id), resource_type="network", quota_limit=2
        ),
        platform.identity.uow,
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="hcloud", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    client = _client(platform, secret, [])
    first, _second = (client.networks.create(name=f"q-{n}", ip_range="10.0.0.0/16") for n in range(2))
    before = len(_upstream(platform).networks.get_all())
    with pytest.raises(APIException) as refused:
        client.networks.create(name="q-third", ip_range="10.0.0.0/16")
    assert refused.value.code == "resource_limit_exceeded"
    assert len(_upstream(platform).networks.get_all()) == before
    assert sorted(n.name for n in client.networks.get_all()) == ["q-0", "q-1"]
    client.networks.delete(first)
    _wait_until_gone_upstream(platform, first.id)
    client.networks.create(name="q-third", ip_range="10.0.0.0/16")
