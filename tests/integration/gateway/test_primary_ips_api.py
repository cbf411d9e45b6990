"""Primary IPs through the gateway with the real ``hcloud`` client (``api_endpoint=<gateway>/v1``,
a platform API token, nothing special-cased). Compute and network run on scratch databases with
identity's quotas; compute's worker and network's worker run in threads against the in-process
Hetzner simulator; compute's events reach network's consumer as its runner applies them. Every
JSON answer is checked against Hetzner's OpenAPI document; at the end nothing is left upstream."""

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
from network_service.adapters.tables import primary_ips as pip_table
from network_service.entrypoints.server_projection import ServerProjection
from tests.integration.billing.support import run_invoices, user_created
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform, network_worker_running
from tests.unit.hetzner_sim import spec


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_pip_id") as identity_url,
        mariadb.scratch_database("cp_test_pip_gw") as gateway_url,
        mariadb.scratch_database("cp_test_pip_cp") as compute_url,
        mariadb.scratch_database("cp_test_pip_nw") as network_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("network", migrations_dir("network"), network_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url, network_url=network_url) as live:
            yield live


@pytest.fixture(scope="module")
def workers(platform: LivePlatform) -> Iterator[None]:
    """Compute's worker in a thread, network's worker (every kind) in another."""
    assert platform.compute is not None and platform.simulator is not None
    fast = RetryPolicy(attempts=3, initial_seconds=0.05)
    compute = Provisioner(
        platform.compute.uow, HcloudServers(platform.simulator, SIMULATOR_TOKEN, retry=fast), platform.compute.quotas
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=compute_worker.run,
        args=(
            compute,
            WorkerSettings.model_construct(
                worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
            ),
            stop,
        ),
        daemon=True,
    )
    thread.start()
    try:
        with network_worker_running(platform):
            yield
    finally:
        stop.set()
        thread.join(15)


def _token(platform: LivePlatform, email: str) -> str:
    user = users.create_user(
        commands.CreateUser(name="PIP User", email=email, password="a long enough password", status=UserStatus.ACTIVE),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="hcloud", scopes=("*:read", "*:write"), rate_limit=100_000),
        platform.identity.uow(),
    )
    return secret


def _client(platform: LivePlatform, token: str, checked: list[str]) -> Any:
    client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.05)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            path = (response.request.path_url or "").split("?")[0]
            spec.validate(str(response.request.method), path, response.status_code, response.json())
            checked.append(f"{response.request.method} {path} {response.status_code}")

    client._client._session.hooks["response"].append(check)
    return client


def _upstream(platform: LivePlatform) -> Any:
    assert platform.simulator is not None
    return Client(token=SIMULATOR_TOKEN, api_endpoint=platform.simulator)


def _follow(platform: LivePlatform, event_type: str, server_id: int) -> None:
    """Apply compute's ``event_type`` of the server to network's consumer, twice (redelivered)."""
    assert platform.compute is not None and platform.network is not None
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope).where(
                outbox.c.event_type == event_type, outbox.c.message_key == str(server_id)
            )
        ).all()
    assert len(rows) == 1
    records = [RawRecord(r.topic, 0, n, r.message_key.encode(), r.envelope) for n, r in enumerate([*rows, *rows])]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)


def _until(check: Any, what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(what)


def _server(platform: LivePlatform, client: Any, name: str) -> Any:
    created = client.servers.create(
        name=name,
        server_type=ServerType(name="cpx11"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name="fsn1"),
    )
    created.action.wait_until_finished(max_retries=400)
    server = client.servers.get_by_id(int(created.server.id or 0))
    _follow(platform, "server.created", server.id)
    return server


def _adopted(client: Any, server_id: int) -> dict[str, Any]:
    """The server's own primary IPs once network's worker adopted both."""

    def both() -> dict[str, Any] | None:
        own = {p.type: p for p in client.primary_ips.get_all() if p.assignee_id == server_id}
        return own if len(own) == 2 else None

    found: dict[str, Any] = _until(both, f"server {server_id}'s addresses were not adopted")
    return found


def _labelled(platform: LivePlatform, primary_ip_id: int) -> list[Any]:
    return list(_upstream(platform).primary_ips.get_all(label_selector=f"cp_primary_ip_id={primary_ip_id}"))


def test_primary_ips_from_a_servers_own_addresses_to_assignment_reverse_dns_and_deletion(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "pip@example.com"), checked)
    server = _server(platform, client, "pip-one")

    # The server's own addresses are primary IPs: adopted (auto_delete), labelled upstream, shown on the server.
    own = _adopted(client, server.id)
    assert own["ipv4"].ip == server.public_net.ipv4.ip and own["ipv4"].auto_delete is True
    assert own["ipv6"].ip.endswith("/64")
    assert [u.ip for u in _labelled(platform, own["ipv4"].id)] == [own["ipv4"].ip]
    shown = client.servers.get_by_id(server.id).public_net
    assert (shown.primary_ipv4.id, shown.primary_ipv6.id) == (own["ipv4"].id, own["ipv6"].id)

    # One of its own, in fsn1, labelled; listed by label selector and paged.
    created = client.primary_ips.create(type="ipv4", name="spare", location=Location(name="fsn1"), labels={"r": "x"})
    spare = created.primary_ip
    assert spare.ip and spare.assignee_id is None and spare.location.name == "fsn1"
    assert created.action.command == "create_primary_ip" and created.action.status == "success"
    assert [u.ip for u in _labelled(platform, spare.id)] == [spare.ip]
    assert [p.id for p in client.primary_ips.get_all(label_selector="r=x")] == [spare.id]
    assert [p.id for p in client.primary_ips.get_all(label_selector="r!=x")] == sorted(p.id for p in own.values())
    page = client.primary_ips.get_list(page=2, per_page=1)
    assert page.meta.pagination.total_entries == 3 and len(page.primary_ips) == 1
    assert [p.id for p in client.primary_ips.get_all(name="spare")] == [spare.id]

    def refused(call: Any) -> str:
        with pytest.raises(APIException) as caught:
            call()
        return str(caught.value.code)

    # Assigning or unassigning while the server runs: server_not_stopped; nothing changed.
    assert refused(lambda: client.primary_ips.assign(spare, server.id, "server")) == "invalid_input"  # has an ipv4
    assert refused(lambda: client.primary_ips.unassign(own["ipv4"])) == "server_not_stopped"
    client.servers.power_off(server).wait_until_finished(max_retries=400)
    client.primary_ips.unassign(own["ipv4"]).wait_until_finished(max_retries=400)
    assert client.primary_ips.get_by_id(own["ipv4"].id).assignee_id is None
    action = client.primary_ips.assign(spare, server.id, "server")
    assert action.command == "assign_primary_ip"
    action.wait_until_finished(max_retries=400)
    assert client.primary_ips.get_by_id(spare.id).assignee_id == server.id
    upstream_server = _upstream(platform).servers.get_all(label_selector=f"cp_server_id={server.id}")[0]
    assert _labelled(platform, spare.id)[0].assignee_id == upstream_server.id
    assert client.servers.get_by_id(server.id).public_net.primary_ipv4.id == spare.id

    # Reverse DNS (a hostname of one of its addresses), protection, auto_delete, labels.
    assert refused(lambda: client.primary_ips.change_dns_ptr(spare, spare.ip, "not a hostname!")) == "invalid_input"
    assert refused(lambda: client.primary_ips.change_dns_ptr(spare, "198.51.100.9", "a.example.com")) == (
        "invalid_input"
    )
    client.primary_ips.change_dns_ptr(spare, spare.ip, "mail.example.com").wait_until_finished(max_retries=400)
    assert [(d["ip"], d["dns_ptr"]) for d in client.primary_ips.get_by_id(spare.id).dns_ptr] == [
        (spare.ip, "mail.example.com")
    ]
    assert client.primary_ips.change_protection(spare, delete=True).status == "success"
    assert refused(lambda: client.primary_ips.delete(spare)) == "protected"
    client.primary_ips.change_protection(spare, delete=False)
    updated = client.primary_ips.update(spare, auto_delete=True, labels={"r": "y"}, name="mail")
    assert (updated.auto_delete, updated.labels, updated.name) == (True, {"r": "y"}, "mail")
    commands_seen = {a.command for a in client.primary_ips.get_actions_list(spare).actions}
    assert commands_seen >= {"create_primary_ip", "assign_primary_ip", "change_dns_ptr", "change_protection"}

    # Another tenant reaches none of it.
    stranger = _client(platform, _token(platform, "pip-stranger@example.com"), checked)
    assert refused(lambda: stranger.primary_ips.get_by_id(spare.id)) == "not_found"
    assert refused(lambda: stranger.primary_ips.delete(own["ipv4"])) == "not_found"

    # The server deleted: its auto_delete primary IPs go (here and upstream), the others stay, unassigned.
    client.servers.delete(server).wait_until_finished(max_retries=400)
    _follow(platform, "server.deleted", server.id)
    _until(lambda: not _labelled(platform, spare.id) and not _labelled(platform, own["ipv6"].id), "still upstream")
    assert refused(lambda: client.primary_ips.get_by_id(spare.id)) == "not_found"
    kept = client.primary_ips.get_by_id(own["ipv4"].id)
    assert kept.assignee_id is None and len(_labelled(platform, kept.id)) == 1
    client.primary_ips.delete(kept)
    _until(lambda: not _labelled(platform, kept.id), "the kept primary IP is still upstream")
    assert client.primary_ips.get_all() == []
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def test_bad_input_is_refused_and_changes_nothing(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "pip-bad@example.com"), checked)
    before = len(_upstream(platform).primary_ips.get_all())

    def refused(call: Any) -> str:
        with pytest.raises(APIException) as caught:
            call()
        return str(caught.value.code)

    assert refused(lambda: client.primary_ips.create(type="ipv5", name="a", location=Location(name="fsn1"))) == (
        "invalid_input"
    )
    assert refused(lambda: client.primary_ips.create(type="ipv4", name="a", location=Location(name="mars1"))) == (
        "invalid_input"
    )
    assert refused(lambda: client.primary_ips.create(type="ipv4", name="a")) == "invalid_input"
    assert (
        refused(lambda: client.primary_ips.create(type="ipv4", name="a", assignee_id=999_999, assignee_type="server"))
        == "invalid_input"
    )
    assert refused(lambda: client.primary_ips.get_all(label_selector="x in (a")) == "invalid_input"
    made = client.primary_ips.create(type="ipv6", name="dup", location=Location(name="nbg1")).primary_ip
    assert refused(lambda: client.primary_ips.create(type="ipv6", name="dup", location=Location(name="nbg1"))) == (
        "uniqueness_error"
    )
    assert refused(lambda: client.primary_ips.unassign(made)) == "invalid_input"
    assert len(_upstream(platform).primary_ips.get_all()) == before + 1
    client.primary_ips.delete(made)
    _until(lambda: not _labelled(platform, made.id), "still upstream")
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def test_a_primary_ipv4s_hours_are_metered_once_and_invoiced_on_a_line_of_its_own(
    platform: LivePlatform, workers: None
) -> None:
    """One ``usage.recorded`` per started hour (deterministic ids, a second pass adds nothing),
    priced by billing's primary_ip_ipv4 plan; IPv6 (no price) records nothing. Billing's projection
    and invoice run bill the hours on the primary IP's own line, equal to the plan's hourly price
    times the hours (under the monthly cap)."""
    assert platform.network is not None
    meter = platform.network.meter()
    assert meter is not None
    client = _client(platform, _token(platform, "pip-metered@example.com"), [])
    v4 = client.primary_ips.create(type="ipv4", name="m4", location=Location(name="nbg1")).primary_ip
    v6 = client.primary_ips.create(type="ipv6", name="m6", location=Location(name="nbg1")).primary_ip
    for pip in (v4, v6):
        client.primary_ips.delete(pip)
        _until(lambda p=pip: not _labelled(platform, p.id), "still upstream")
    born, gone = datetime(2001, 4, 1, 10, 15, tzinfo=UTC), datetime(2001, 4, 1, 13, 30, tzinfo=UTC)
    with platform.network.engine.begin() as conn:
        conn.execute(
            sa.update(pip_table).where(pip_table.c.id.in_([v4.id, v6.id])).values(created_at=born, deleted_at=gone)
        )
    meter.run()
    assert meter.run().hours == 0
    with platform.network.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.event_id, outbox.c.message_key)
            .where(
                outbox.c.event_type == "usage.recorded",
                outbox.c.message_key.in_([f"primary_ip:{v4.id}", f"primary_ip:{v6.id}"]),
            )
            .order_by(outbox.c.id)
        ).all()
    hours = [born.replace(minute=0) + timedelta(hours=n) for n in range(4)]
    assert {row.message_key for row in rows} == {f"primary_ip:{v4.id}"}
    assert [str(uuid.UUID(bytes=row.event_id)) for row in rows] == [
        usage_event_id("primary_ip", v4.id, "compute_hours", int(h.timestamp())) for h in hours
    ]

    assert platform.billing is not None
    with platform.network.engine.connect() as conn:
        records = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope)
            .where(outbox.c.event_type == "usage.recorded", outbox.c.message_key == f"primary_ip:{v4.id}")
            .order_by(outbox.c.id)
        ).all()
    with platform.identity.uow() as uow:
        user = uow.users.by_email("pip-metered@example.com")
    assert user is not None
    account = user_created(user.id)
    raw = [RawRecord(account.topic.name, 0, 0, account.key, account.envelope.SerializeToString(), account.headers())]
    raw += [RawRecord(r.topic, 1, n, r.message_key.encode(), r.envelope) for n, r in enumerate([*records, *records])]
    ProjectionRunner(platform.billing, BillingProjection()).apply_batch(raw)
    (issued,) = run_invoices(platform.billing, date(2001, 4, 1), BillingRules()).issued
    with platform.billing.connect() as conn:
        lines = conn.execute(
            sa.select(
                invoice_items.c.resource_type,
                invoice_items.c.resource_id,
                invoice_items.c.quantity,
                invoice_items.c.unit_price,
                invoice_items.c.total,
            ).where(invoice_items.c.invoice_id == issued.invoice_id)
        ).all()
    # billing_0011's primary_ip_ipv4 plan: 0.000952 gross an hour, invoiced net of the 19 % VAT it includes.
    net_hourly = (Decimal("0.000952") * 100 / 119).quantize(Decimal("0.000001"))
    assert [(r.resource_type, r.resource_id, r.quantity, r.unit_price) for r in lines] == [
        ("primary_ip", v4.id, Decimal("4.0000"), net_hourly)
    ]
    assert lines[0].total == (4 * net_hourly).quantize(Decimal("0.01"))
