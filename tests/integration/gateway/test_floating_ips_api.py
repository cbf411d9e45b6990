"""Floating IPs through the gateway with the real ``hcloud`` client: ``api_endpoint=<gateway>/v1``
and a platform API token, nothing special-cased. Compute and network run on scratch databases
with identity's quotas; compute's provisioning worker and network's worker run in threads
against the in-process Hetzner simulator, so actions finish as in the stack. Every JSON answer
is checked against Hetzner's OpenAPI document; at the end nothing is left upstream."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from hcloud import APIException, Client
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from billing_service.adapters.tables import invoice_items
from billing_service.config import BillingRules
from billing_service.entrypoints.projection import BillingProjection
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer.provisioning import Provisioner
from cpshared.events.envelope import usage_event_id
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, users
from network_service.adapters.tables import floating_ips as fip_table
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.config import WorkerSettings as NetworkWorkerSettings
from network_service.entrypoints import worker as network_worker
from network_service.entrypoints.server_projection import ServerProjection
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.integration.billing.support import run_invoices, user_created
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform
from tests.unit.hetzner_sim import spec


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_fip_id") as identity_url,
        mariadb.scratch_database("cp_test_fip_gw") as gateway_url,
        mariadb.scratch_database("cp_test_fip_cp") as compute_url,
        mariadb.scratch_database("cp_test_fip_nw") as network_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("network", migrations_dir("network"), network_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as live:
            yield live


@pytest.fixture(scope="module")
def workers(platform: LivePlatform) -> Iterator[None]:
    """Compute's and network's workers (their entrypoints' loops) in threads."""
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


def _token(platform: LivePlatform, email: str) -> str:
    user = users.create_user(
        commands.CreateUser(name="FIP User", email=email, password="a long enough password", status=UserStatus.ACTIVE),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="hcloud", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    return secret


def _client(platform: LivePlatform, token: str, checked: list[str]) -> Client:
    client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            path = (response.request.path_url or "").split("?")[0]
            spec.validate(str(response.request.method), path, response.status_code, response.json())
            checked.append(f"{response.request.method} {path} {response.status_code}")

    client._client._session.hooks["response"].append(check)
    return client


def _upstream(platform: LivePlatform) -> Any:
    """hcloud on the simulator's project itself (typed Any: the tests read what upstream set)."""
    assert platform.simulator is not None
    return Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)


def _server(client: Client, name: str, location: str = "fsn1") -> Any:
    created = client.servers.create(
        name=name,
        server_type=ServerType(name="cpx11"),  # offered in every location
        image=Image(name="ubuntu-24.04"),
        location=Location(name=location),
    )
    created.action.wait_until_finished(max_retries=400)
    return client.servers.get_by_id(int(created.server.id or 0))


def test_a_floating_ip_is_created_assigned_moved_named_protected_and_deleted_with_the_hcloud_client(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    client: Any = _client(platform, _token(platform, "fip@example.com"), checked)
    first, second = _server(client, "fip-one"), _server(client, "fip-two")

    created = client.floating_ips.create(
        type="ipv4", home_location=Location(name="fsn1"), description="web front", labels={"env": "test"}
    )
    fip: Any = created.floating_ip
    assert fip.ip and fip.type == "ipv4" and fip.server is None
    assert fip.home_location.name == "fsn1" and fip.home_location.network_zone == "eu-central"
    assert created.action is not None and created.action.command == "create_floating_ip"
    assert created.action.status == "success"
    upstream = _upstream(platform).floating_ips.get_all(label_selector=f"cp_floating_ip_id={fip.id}")
    assert [u.ip for u in upstream] == [fip.ip]

    assert [f.id for f in client.floating_ips.get_all(label_selector="env=test")] == [fip.id]
    assert client.floating_ips.get_all(label_selector="env=prod") == []
    assert [f.id for f in client.floating_ips.get_all(name=fip.name)] == [fip.id]

    assign = client.floating_ips.assign(fip, first)
    assert assign.command == "assign_floating_ip"
    assign.wait_until_finished(max_retries=400)  # followed at /v1/actions/{id}
    assert client.floating_ips.get_by_id(fip.id).server.id == first.id
    assert _upstream(platform).floating_ips.get_by_id(upstream[0].id).server is not None

    client.floating_ips.assign(fip, second).wait_until_finished(max_retries=400)
    moved: Any = client.floating_ips.get_by_id(fip.id)
    assert moved.server.id == second.id
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={second.id}")[0]
    assert _upstream(platform).floating_ips.get_by_id(upstream[0].id).server.id == upstream_server.id

    client.floating_ips.change_dns_ptr(fip, fip.ip, "www.example.com").wait_until_finished(max_retries=400)
    named: Any = client.floating_ips.get_by_id(fip.id)
    assert [(d["ip"], d["dns_ptr"]) for d in named.dns_ptr] == [(fip.ip, "www.example.com")]
    assert {d["dns_ptr"] for d in _upstream(platform).floating_ips.get_by_id(upstream[0].id).dns_ptr} >= {
        "www.example.com"
    }

    updated: Any = client.floating_ips.update(fip, description="the web front", labels={"env": "prod"})
    assert (updated.description, updated.labels) == ("the web front", {"env": "prod"})

    protect = client.floating_ips.change_protection(fip, delete=True)
    assert protect.status == "success"
    with pytest.raises(APIException) as refused:
        client.floating_ips.delete(fip)
    assert refused.value.code == "protected"
    assert client.floating_ips.get_by_id(fip.id).protection["delete"] is True

    actions = client.floating_ips.get_actions_list(fip).actions
    assert {a.command for a in actions} >= {"create_floating_ip", "assign_floating_ip", "change_dns_ptr"}

    client.floating_ips.change_protection(fip, delete=False)
    client.floating_ips.unassign(fip).wait_until_finished(max_retries=400)
    assert client.floating_ips.get_by_id(fip.id).server is None
    assert client.floating_ips.delete(fip)
    with pytest.raises(APIException) as gone:
        client.floating_ips.get_by_id(fip.id)
    assert gone.value.code == "not_found"
    _wait_until_nothing_upstream(platform, fip.id)
    assert "POST /v1/floating_ips 201" in checked


def _wait_until_nothing_upstream(platform: LivePlatform, floating_ip_id: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not _upstream(platform).floating_ips.get_all(label_selector=f"cp_floating_ip_id={floating_ip_id}"):
            return
        time.sleep(0.05)
    raise AssertionError(f"floating IP {floating_ip_id} is still upstream")


def test_bad_input_is_refused_in_hetzners_format_and_changes_nothing(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "fip-bad@example.com"), checked)
    stranger = _client(platform, _token(platform, "fip-stranger@example.com"), checked)
    before = len(_upstream(platform).floating_ips.get_all())

    def refused(call: Any) -> APIException:
        with pytest.raises(APIException) as caught:
            call()
        return caught.value

    assert refused(lambda: client.floating_ips.create(type="ipv5", home_location=Location(name="fsn1"))).code == (
        "invalid_input"
    )
    assert refused(lambda: client.floating_ips.create(type="ipv4", home_location=Location(name="mars1"))).code == (
        "invalid_input"
    )
    assert refused(lambda: client.floating_ips.create(type="ipv4")).code == "invalid_input"
    with pytest.raises(APIException) as selector:
        client.floating_ips.get_all(label_selector="env in (a")
    assert selector.value.code == "invalid_input"
    assert client.floating_ips.get_all() == []

    own = client.floating_ips.create(type="ipv4", home_location=Location(name="fsn1")).floating_ip
    ashburn = _server(client, "far-away", location="ash")
    foreign = _server(stranger, "not-yours")
    assert refused(lambda: client.floating_ips.assign(own, ashburn)).code == "invalid_input"
    assert refused(lambda: client.floating_ips.assign(own, foreign)).code == "invalid_input"
    assert refused(lambda: client.floating_ips.change_dns_ptr(own, own.ip or "", "not a hostname!")).code == (
        "invalid_input"
    )
    assert refused(lambda: client.floating_ips.change_dns_ptr(own, "198.51.100.7", "ok.example.com")).code == (
        "invalid_input"
    )
    # Another tenant's floating IP does not exist for the caller.
    assert refused(lambda: stranger.floating_ips.get_by_id(own.id or 0)).code == "not_found"
    assert refused(lambda: stranger.floating_ips.delete(own)).code == "not_found"
    unchanged: Any = client.floating_ips.get_by_id(own.id or 0)
    assert (unchanged.server is None and unchanged.dns_ptr == []) or all(
        d["dns_ptr"] != "not a hostname!" for d in unchanged.dns_ptr
    )
    assert len(_upstream(platform).floating_ips.get_all()) == before + 1
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)
    client.floating_ips.delete(own)
    _wait_until_nothing_upstream(platform, own.id or 0)


def test_a_server_shows_its_floating_ips_and_its_deletion_unassigns_them(platform: LivePlatform, workers: None) -> None:
    """The server's Hetzner view shows what network knows (one network call for a page of
    servers); compute's ``server.deleted``, applied by network's projection as its consumer
    would, unassigns the floating IP (redelivered: nothing twice)."""
    assert platform.compute is not None and platform.network is not None
    checked: list[str] = []
    client: Any = _client(platform, _token(platform, "fip-reaction@example.com"), checked)
    server, bystander = _server(client, "doomed"), _server(client, "bystander")
    fip = client.floating_ips.create(type="ipv6", server=server).floating_ip
    assert fip.server.id == server.id and fip.ip.endswith("/64")
    assert client.servers.get_by_id(server.id).public_net.floating_ips[0].id == fip.id
    listed = {s.id: [f.id for f in s.public_net.floating_ips] for s in client.servers.get_all()}
    assert listed == {server.id: [fip.id], bystander.id: []}

    client.servers.delete(server).wait_until_finished(max_retries=400)
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope).where(
                outbox.c.event_type == "server.deleted", outbox.c.message_key == str(server.id)
            )
        ).all()
    assert len(rows) == 1
    records = [
        RawRecord(row.topic, 0, n, row.message_key.encode(), row.envelope) for n, row in enumerate([*rows, *rows])
    ]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)

    assert client.floating_ips.get_by_id(fip.id).server is None
    with platform.network.engine.connect() as conn:
        unassigned = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.event_type == "floating_ip.unassigned", outbox.c.message_key == str(fip.id))
        ).scalar_one()
    assert unassigned == 1
    client.floating_ips.delete(fip)
    _wait_until_nothing_upstream(platform, fip.id)


def test_a_floating_ips_hours_are_metered_once_and_invoiced_on_a_line_of_its_own(
    platform: LivePlatform, workers: None
) -> None:
    """Network's meter records one ``usage.recorded`` per started hour of the floating IP's life
    (deterministic ids: a second pass adds nothing), priced by billing's floating_ip_ipv4 plan;
    billing's projection and invoice run bill them on the floating IP's own line."""
    assert platform.network is not None and platform.billing is not None
    meter = platform.network.meter()
    assert meter is not None
    checked: list[str] = []
    token = _token(platform, "fip-metered@example.com")
    client: Any = _client(platform, token, checked)
    fip = client.floating_ips.create(type="ipv4", home_location=Location(name="nbg1")).floating_ip
    client.floating_ips.delete(fip)
    _wait_until_nothing_upstream(platform, fip.id)
    # Its life, moved to a month of its own: 10:15 to 13:30 touches four clock hours.
    born, gone = datetime(2001, 3, 1, 10, 15, tzinfo=UTC), datetime(2001, 3, 1, 13, 30, tzinfo=UTC)
    with platform.network.engine.begin() as conn:
        conn.execute(sa.update(fip_table).where(fip_table.c.id == fip.id).values(created_at=born, deleted_at=gone))

    meter.run()
    assert meter.run().hours == 0  # nothing left to record: each hour once
    with platform.network.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.event_id, outbox.c.topic, outbox.c.message_key, outbox.c.envelope)
            .where(outbox.c.event_type == "usage.recorded", outbox.c.message_key == f"floating_ip:{fip.id}")
            .order_by(outbox.c.id)
        ).all()
    hours = [born.replace(minute=0) + timedelta(hours=n) for n in range(4)]
    expected_ids = [usage_event_id("floating_ip", fip.id, "compute_hours", int(h.timestamp())) for h in hours]
    assert [
        str(uuid.UUID(bytes=row.event_id)) if isinstance(row.event_id, bytes) else row.event_id for row in rows
    ] == (expected_ids)

    with platform.identity.uow() as uow:
        user = uow.users.by_email("fip-metered@example.com")
    assert user is not None
    account = user_created(user.id)
    records = [
        RawRecord(account.topic.name, 0, 0, account.key, account.envelope.SerializeToString(), account.headers())
    ]
    records += [
        RawRecord(row.topic, 1, n, row.message_key.encode(), row.envelope) for n, row in enumerate([*rows, *rows])
    ]
    ProjectionRunner(platform.billing, BillingProjection()).apply_batch(records)
    (issued,) = run_invoices(platform.billing, date(2001, 3, 1), BillingRules()).issued
    with platform.billing.connect() as conn:
        lines = conn.execute(
            sa.select(invoice_items.c.resource_type, invoice_items.c.resource_id, invoice_items.c.quantity).where(
                invoice_items.c.invoice_id == issued.invoice_id
            )
        ).all()
    assert [(line.resource_type, line.resource_id, line.quantity) for line in lines] == [
        ("floating_ip", fip.id, Decimal("4.0000"))
    ]
