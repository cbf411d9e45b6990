"""Firewalls through the gateway with the real ``hcloud`` client (``api_endpoint=<gateway>/v1``,
a platform API token). Compute's and network's workers run in threads against the in-process
simulator; compute's ``server.*`` events reach network's projection as its consumer would apply
them. A firewall with rules is applied by label selector; a server created afterwards with a
matching label is covered (its Hetzner view shows ``public_net.firewalls``, upstream applies the
firewall to it); its rules are replaced; it is removed and deleted: nothing is left upstream.
Bad input answers 4xx in Hetzner's format and changes nothing here or upstream; every JSON
answer is checked against Hetzner's OpenAPI document."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hcloud import APIException
from hcloud.firewalls import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer.provisioning import Provisioner
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain.model import QuotaOwner
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_firewalls import FIREWALL_LABEL, HcloudFirewalls
from network_service.config import WorkerSettings as NetworkWorkerSettings
from network_service.entrypoints import worker as network_worker
from network_service.entrypoints.server_projection import ServerProjection
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.gateway.test_floating_ips_api import _token, _upstream
from tests.integration.gateway.test_networks_api import _client
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform

SSH = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0", "::/0"])
WEB = FirewallRule(direction="in", protocol="tcp", port="443", source_ips=["10.0.0.0/8"], description="https")


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_fwa_id") as identity_url,
        mariadb.scratch_database("cp_test_fwa_gw") as gateway_url,
        mariadb.scratch_database("cp_test_fwa_cp") as compute_url,
        mariadb.scratch_database("cp_test_fwa_nw") as network_url,
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
    """Compute's and network's workers (network's sweeping every half second: a deleted
    firewall leaves upstream soon)."""
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
        firewalls=HcloudFirewalls(platform.simulator, SIMULATOR_TOKEN, retry=fast),
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
                    worker_poll_interval=0.05, worker_sweep_interval=0.5, upstream_retry_initial_seconds=0.05
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


def _labelled(platform: LivePlatform, firewall_id: int) -> list[Any]:
    found: list[Any] = _upstream(platform).firewalls.get_all(label_selector=f"{FIREWALL_LABEL}={firewall_id}")
    return found


def _eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _compute_events_to_network(platform: LivePlatform, server_id: int) -> None:
    """Compute's events of the server through network's projection, as its consumer applies
    them (each twice: a redelivery changes nothing)."""
    assert platform.compute is not None and platform.network is not None
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope)
            .where(outbox.c.message_key == str(server_id), outbox.c.event_type.like("server.%"))
            .order_by(outbox.c.id)
        ).all()
    records = [
        RawRecord(row.topic, 0, n, row.message_key.encode(), row.envelope) for n, row in enumerate([*rows, *rows])
    ]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)


def _server(client: Any, name: str, labels: dict[str, str]) -> Any:
    created = client.servers.create(
        name=name,
        server_type=ServerType(name="cpx11"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name="fsn1"),
        labels=labels,
    )
    created.action.wait_until_finished(max_retries=400)
    return client.servers.get_by_id(int(created.server.id or 0))


def _by_selector(selector: str) -> FirewallResource:
    return FirewallResource(
        type=FirewallResource.TYPE_LABEL_SELECTOR, label_selector=FirewallResourceLabelSelector(selector=selector)
    )


def test_a_firewall_applied_by_label_selector_covers_a_server_created_afterwards(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "fw@example.com"), checked)
    created = client.firewalls.create(
        name="web", rules=[SSH], labels={"env": "test"}, resources=[_by_selector("role=web")]
    )
    firewall = created.firewall
    assert [a.command for a in created.actions] == ["apply_firewall"]
    for action in created.actions:
        action.wait_until_finished(max_retries=400)
    (upstream,) = _labelled(platform, firewall.id)
    assert [(r.direction, r.protocol, r.port) for r in upstream.rules] == [("in", "tcp", "22")]
    assert not upstream.applied_to

    server = _server(client, "web-1", {"role": "web"})
    _compute_events_to_network(platform, server.id)
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    _eventually(
        lambda: [int(r.server.id) for r in _labelled(platform, firewall.id)[0].applied_to or []] == [upstream_server.id]
    )
    seen = client.servers.get_by_id(server.id)
    assert [(f.firewall.id, f.status) for f in seen.public_net.firewalls] == [(firewall.id, "applied")]
    assert [[f.firewall.id for f in s.public_net.firewalls] for s in client.servers.get_all()] == [[firewall.id]]
    (applied,) = client.firewalls.get_by_id(firewall.id).applied_to
    assert applied.type == "label_selector" and applied.label_selector.selector == "role=web"
    assert [r.server.id for r in applied.applied_to_resources] == [server.id]

    for action in client.firewalls.set_rules(firewall, [SSH, WEB]):
        action.wait_until_finished(max_retries=400)
    assert [r.port for r in client.firewalls.get_by_id(firewall.id).rules] == ["22", "443"]
    (upstream,) = _labelled(platform, firewall.id)
    assert [(r.port, r.description) for r in upstream.rules] == [("22", None), ("443", "https")]

    with pytest.raises(APIException) as in_use:
        client.firewalls.delete(firewall)
    assert in_use.value.code == "resource_in_use"
    for action in client.firewalls.remove_from_resources(firewall, [_by_selector("role=web")]):
        action.wait_until_finished(max_retries=400)
    assert not _labelled(platform, firewall.id)[0].applied_to
    assert client.servers.get_by_id(server.id).public_net.firewalls == []
    actions = client.firewalls.get_actions_list(firewall).actions
    assert {a.command for a in actions} == {"apply_firewall", "set_firewall_rules", "remove_firewall"}
    client.firewalls.delete(firewall)
    with pytest.raises(APIException) as gone:
        client.firewalls.get_by_id(firewall.id)
    assert gone.value.code == "not_found"
    _eventually(lambda: _labelled(platform, firewall.id) == [])
    client.servers.delete(server).wait_until_finished(max_retries=400)
    assert _upstream(platform).firewalls.get_all(label_selector=FIREWALL_LABEL) == []
    with platform.identity.uow() as uow:
        quota = uow.quotas.get(QuotaOwner(user_id=seen_owner(platform, "fw@example.com")), "firewall")
    assert quota is not None and quota.current_usage == 0
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def seen_owner(platform: LivePlatform, email: str) -> int:
    with platform.identity.uow() as uow:
        user = uow.users.by_email(email)
    assert user is not None
    return int(user.id)


def test_bad_input_is_refused_in_hetzners_format_and_changes_nothing(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "fw-bad@example.com"), checked)
    stranger = _client(platform, _token(platform, "fw-stranger@example.com"), checked)
    kept = client.firewalls.create(name="kept", rules=[SSH]).firewall
    _eventually(lambda: len(_labelled(platform, kept.id)) == 1)
    before = len(_upstream(platform).firewalls.get_all())

    def refused(call: Callable[[], object]) -> str:
        with pytest.raises(APIException) as caught:
            call()
        return str(caught.value.code)

    bad_rules = {
        "port": [FirewallRule(direction="in", protocol="tcp", port="0-70000", source_ips=["0.0.0.0/0"])],
        "cidr": [FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["10.0.0.0/33"])],
        "host bits": [FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["10.0.0.1/8"])],
        "icmp port": [FirewallRule(direction="in", protocol="icmp", port="22", source_ips=["0.0.0.0/0"])],
        "many": [SSH] * 10_000,
    }
    for rules in bad_rules.values():

        def create(r: list[FirewallRule] = rules) -> object:
            return client.firewalls.create(name="bad", rules=r)

        def set_rules(r: list[FirewallRule] = rules) -> object:
            return client.firewalls.set_rules(kept, r)

        assert refused(create) == "invalid_input"
        assert refused(set_rules) == "invalid_input"
    assert refused(lambda: client.firewalls.create(name="bad", resources=[_by_selector("role in (")])) == (
        "invalid_input"
    )
    assert refused(lambda: client.firewalls.create(name="kept")) == "uniqueness_error"
    server_of_stranger = _server(stranger, "not-yours", {})
    by_id = FirewallResource(type=FirewallResource.TYPE_SERVER, server=server_of_stranger)
    assert refused(lambda: client.firewalls.apply_to_resources(kept, [by_id])) == "firewall_resource_not_found"
    assert refused(lambda: client.firewalls.remove_from_resources(kept, [_by_selector("a=b")])) == (
        "firewall_already_removed"
    )
    for action in client.firewalls.apply_to_resources(kept, [_by_selector("a=b")]):
        action.wait_until_finished(max_retries=400)
    assert refused(lambda: client.firewalls.apply_to_resources(kept, [_by_selector("a=b")])) == (
        "firewall_already_applied"
    )
    for action in client.firewalls.remove_from_resources(kept, [_by_selector("a=b")]):
        action.wait_until_finished(max_retries=400)
    assert refused(lambda: stranger.firewalls.get_by_id(kept.id)) == "not_found"
    assert refused(lambda: stranger.firewalls.set_rules(kept, [SSH])) == "not_found"
    assert refused(lambda: stranger.firewalls.delete(kept)) == "not_found"
    assert [f.name for f in client.firewalls.get_all()] == ["kept"]
    assert [r.port for r in client.firewalls.get_by_id(kept.id).rules] == ["22"]
    assert len(_upstream(platform).firewalls.get_all()) == before
    (upstream,) = _labelled(platform, kept.id)
    assert [r.port for r in upstream.rules] == ["22"]
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)
    client.firewalls.delete(kept)
    _eventually(lambda: _labelled(platform, kept.id) == [])
    stranger.servers.delete(server_of_stranger).wait_until_finished(max_retries=400)
