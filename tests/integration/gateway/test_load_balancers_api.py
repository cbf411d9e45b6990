"""Load balancers and certificates through the gateway with the real ``hcloud`` client
(``api_endpoint=<gateway>/v1``, a platform API token). Compute's and network's workers run in
threads against the in-process simulator; compute's ``server.*`` events reach network's
projection as its consumer would apply them. A load balancer with an HTTP service, a server
target and a label-selector target covers a server created afterwards, reports its targets'
health, changes through its actions and goes: nothing is left upstream, its quota comes back.
Bad input answers 4xx in Hetzner's format and changes nothing here or upstream; every JSON
answer is checked against Hetzner's OpenAPI document."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hcloud import APIException
from hcloud.load_balancer_types import LoadBalancerType
from hcloud.load_balancers import (
    LoadBalancerAlgorithm,
    LoadBalancerHealthCheck,
    LoadBalancerHealthCheckHttp,
    LoadBalancerService,
    LoadBalancerServiceHttp,
    LoadBalancerTarget,
    LoadBalancerTargetIP,
    LoadBalancerTargetLabelSelector,
)
from hcloud.locations import Location
from hcloud.networks import NetworkSubnet

from billing_service.adapters.tables import invoice_items
from billing_service.entrypoints.projection import BillingProjection
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cloudplatform.events.v1.envelope_pb2 import EventEnvelope
from cloudplatform.usage.v1.events_pb2 import UsageRecorded
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.config import WorkerSettings
from compute_service.entrypoints import worker as compute_worker
from compute_service.service_layer.provisioning import Provisioner
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.events.tables import outbox
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain.model import QuotaOwner
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_load_balancers import LOAD_BALANCER_LABEL, HcloudLoadBalancers
from network_service.config import WorkerSettings as NetworkWorkerSettings
from network_service.entrypoints import worker as network_worker
from network_service.entrypoints.server_projection import ServerProjection
from network_service.service_layer import load_balancers
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from tests.clocks import installed_clock
from tests.integration.billing.support import apply as apply_to_billing
from tests.integration.billing.support import run_invoices, user_created
from tests.integration.gateway.test_firewalls_api import _compute_events_to_network, _eventually, _server, seen_owner
from tests.integration.gateway.test_floating_ips_api import _token, _upstream
from tests.integration.gateway.test_networks_api import _client
from tests.integration.live import SIMULATOR_TOKEN, LivePlatform, live_platform


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_lba_id") as identity_url,
        mariadb.scratch_database("cp_test_lba_gw") as gateway_url,
        mariadb.scratch_database("cp_test_lba_cp") as compute_url,
        mariadb.scratch_database("cp_test_lba_nw") as network_url,
        mariadb.scratch_database("cp_test_lba_bi") as billing_url,
    ):
        for service, url in (
            ("identity", identity_url),
            ("gateway", gateway_url),
            ("compute", compute_url),
            ("network", network_url),
            ("billing", billing_url),
        ):
            upgrade(service, migrations_dir(service), url)
        with live_platform(
            identity_url, gateway_url, compute_url=compute_url, network_url=network_url, billing_url=billing_url
        ) as live:
            yield live


@pytest.fixture(scope="module")
def workers(platform: LivePlatform) -> Iterator[None]:
    """Compute's and network's workers (network's sweeping every half second)."""
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
        load_balancers=HcloudLoadBalancers(platform.simulator, SIMULATOR_TOKEN, retry=fast),
        load_balancer_quotas=platform.network.load_balancer_quotas,
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


def _labelled(platform: LivePlatform, lb_id: int) -> list[Any]:
    found: list[Any] = _upstream(platform).load_balancers.get_all(label_selector=f"{LOAD_BALANCER_LABEL}={lb_id}")
    return found


def _upstream_server(platform: LivePlatform, server_id: int) -> int:
    return int(_upstream(platform).servers.get_all(label_selector=f"cp_server_id={server_id}")[0].id)


def _delete(client: Any, lb_id: int) -> None:
    """DELETE /v1/load_balancers/{id}: ``204`` as Hetzner's reference says (hcloud 2.27's
    ``load_balancers.delete`` expects an action in the answer, so it is sent as a plain request)."""
    client.request("DELETE", f"/load_balancers/{lb_id}")


def _server_events(platform: LivePlatform, server_id: int, event_type: str) -> None:
    """Compute's ``event_type`` events of the server through network's projection, as its
    consumer applies them (twice: a redelivery changes nothing)."""
    assert platform.compute is not None and platform.network is not None
    with platform.compute.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.topic, outbox.c.message_key, outbox.c.envelope)
            .where(outbox.c.message_key == str(server_id), outbox.c.event_type == event_type)
            .order_by(outbox.c.id)
        ).all()
    records = [
        RawRecord(row.topic, 0, n, row.message_key.encode(), row.envelope) for n, row in enumerate([*rows, *rows])
    ]
    ProjectionRunner(platform.network.engine, ServerProjection()).apply_batch(records)


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(APIException) as caught:
        call()
    return str(caught.value.code)


HTTP = LoadBalancerService(
    protocol="http",
    listen_port=80,
    destination_port=8080,
    proxyprotocol=False,
    health_check=LoadBalancerHealthCheck(
        protocol="http",
        port=8080,
        interval=15,
        timeout=10,
        retries=3,
        http=LoadBalancerHealthCheckHttp(path="/healthz", status_codes=["2??"], tls=False),
    ),
    http=LoadBalancerServiceHttp(
        sticky_sessions=True,
        cookie_name="LB",
        cookie_lifetime=300,  # type: ignore[arg-type]  # hcloud types it str; the API takes an integer
    ),
)


def test_a_load_balancer_with_server_and_selector_targets_reports_health_and_goes(
    platform: LivePlatform, workers: None
) -> None:
    checked: list[str] = []
    email = "lb@example.com"
    client = _client(platform, _token(platform, email), checked)
    named = _server(client, "lb-named", {})
    _compute_events_to_network(platform, named.id)
    created = client.load_balancers.create(
        name="web",
        load_balancer_type=LoadBalancerType(name="lb11"),
        location=Location(name="fsn1"),
        algorithm=LoadBalancerAlgorithm(type="least_connections"),
        services=[HTTP],
        targets=[
            LoadBalancerTarget(type="server", server=named, use_private_ip=False),
            LoadBalancerTarget(type="label_selector", label_selector=LoadBalancerTargetLabelSelector("role=web")),
        ],
        labels={"env": "test"},
    )
    lb = created.load_balancer
    assert created.action.command == "create_load_balancer"
    created.action.wait_until_finished(max_retries=400)
    (upstream,) = _labelled(platform, lb.id)
    assert upstream.algorithm.type == "least_connections"
    assert [(s.protocol, s.listen_port, s.destination_port) for s in upstream.services] == [("http", 80, 8080)]
    assert [int(t.server.id) for t in upstream.targets] == [_upstream_server(platform, named.id)]

    later = _server(client, "lb-later", {"role": "web"})
    _compute_events_to_network(platform, later.id)
    wanted = sorted([_upstream_server(platform, named.id), _upstream_server(platform, later.id)])
    _eventually(lambda: sorted(int(t.server.id) for t in _labelled(platform, lb.id)[0].targets) == wanted)
    seen = client.load_balancers.get_by_id(lb.id)
    assert seen.public_net.ipv4.ip == upstream.public_net.ipv4.ip
    by_server, by_selector = seen.targets
    assert by_server.server.id == named.id
    _eventually(
        lambda: [h.status for h in client.load_balancers.get_by_id(lb.id).targets[0].health_status] == ["healthy"]
    )
    assert [t.server.id for t in by_selector.targets] == [later.id]
    _eventually(
        lambda: (
            [h.status for h in client.load_balancers.get_by_id(lb.id).targets[1].targets[0].health_status]
            == ["healthy"]
        )
    )
    # hcloud's Server keeps no load_balancers: read the servers' Hetzner view itself
    assert client.request("GET", f"/servers/{named.id}")["server"]["load_balancers"] == [lb.id]
    assert {s["id"]: s["load_balancers"] for s in client.request("GET", "/servers")["servers"]} == {
        named.id: [lb.id],
        later.id: [lb.id],
    }

    ip = str(seen.public_net.ipv4.ip)
    steps: list[Callable[[], Any]] = [
        lambda: client.load_balancers.add_service(
            lb, LoadBalancerService(protocol="tcp", listen_port=5432, destination_port=5432, proxyprotocol=False)
        ),
        lambda: client.load_balancers.add_target(
            lb, LoadBalancerTarget(type="ip", ip=LoadBalancerTargetIP(ip="1.1.1.1"))
        ),
        lambda: client.load_balancers.change_algorithm(lb, LoadBalancerAlgorithm(type="round_robin")),
        lambda: client.load_balancers.change_type(lb, LoadBalancerType(name="lb21")),
        lambda: client.load_balancers.change_dns_ptr(lb, ip, "lb.example.com"),
        lambda: client.load_balancers.delete_service(lb, LoadBalancerService(listen_port=5432)),
    ]
    for step in steps:
        step().wait_until_finished(max_retries=400)  # one action at a time: a running one locks it
    (upstream,) = _labelled(platform, lb.id)
    assert upstream.load_balancer_type.name == "lb21" and upstream.algorithm.type == "round_robin"
    assert upstream.public_net.ipv4.dns_ptr == "lb.example.com"
    assert [s.listen_port for s in upstream.services] == [80]
    assert "1.1.1.1" in [t.ip.ip for t in upstream.targets if t.type == "ip"]
    shown = client.load_balancers.get_by_id(lb.id)
    assert shown.load_balancer_type.name == "lb21" and shown.public_net.ipv4.dns_ptr == "lb.example.com"

    client.load_balancers.change_protection(lb, delete=True).wait_until_finished(max_retries=400)
    assert _refused(lambda: _delete(client, lb.id)) == "protected"
    client.load_balancers.change_protection(lb, delete=False).wait_until_finished(max_retries=400)
    commands = {a.command for a in client.load_balancers.get_actions_list(lb).actions}
    assert {"create_load_balancer", "add_service", "change_load_balancer_type", "change_protection"} <= commands

    client.servers.delete(named).wait_until_finished(max_retries=400)
    _server_events(platform, named.id, "server.deleted")
    assert [t.type for t in client.load_balancers.get_by_id(lb.id).targets] == ["label_selector", "ip"]
    _delete(client, lb.id)
    assert _refused(lambda: client.load_balancers.get_by_id(lb.id)) == "not_found"
    _eventually(lambda: _labelled(platform, lb.id) == [])
    owner = QuotaOwner(user_id=seen_owner(platform, email))

    def quota_back() -> bool:
        with platform.identity.uow() as uow:
            quota = uow.quotas.get(owner, "load_balancer")
        return quota is not None and quota.current_usage == 0

    _eventually(quota_back)  # the delete action gives the unit back once upstream deleted it
    client.servers.delete(later).wait_until_finished(max_retries=400)
    assert _upstream(platform).load_balancers.get_all(label_selector=LOAD_BALANCER_LABEL) == []
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)


def _pem(key: ec.EllipticCurvePrivateKey, names: list[str]) -> tuple[str, str]:
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private.decode()


def test_certificates_and_bad_input_are_answered_in_hetzners_format(platform: LivePlatform, workers: None) -> None:
    checked: list[str] = []
    client = _client(platform, _token(platform, "lb-bad@example.com"), checked)
    stranger = _client(platform, _token(platform, "lb-stranger@example.com"), checked)
    key = ec.generate_private_key(ec.SECP256R1())
    pem, private = _pem(key, ["www.example.com", "example.com"])
    other_pem, _ = _pem(ec.generate_private_key(ec.SECP256R1()), ["other.example.com"])

    made = client.certificates.create(name="www", certificate=pem, private_key=private, labels={"env": "prod"})
    assert made.domain_names == ["www.example.com", "example.com"]
    assert made.fingerprint and made.not_valid_after > made.not_valid_before
    assert [c.name for c in client.certificates.get_all(label_selector="env=prod")] == ["www"]
    assert _refused(lambda: client.certificates.create(name="bad", certificate=other_pem, private_key=private)) == (
        "invalid_input"
    )
    assert _refused(lambda: client.certificates.create(name="bad", certificate="junk", private_key=private)) == (
        "invalid_input"
    )
    assert _refused(lambda: client.certificates.create(name="www", certificate=pem, private_key=private)) == (
        "uniqueness_error"
    )
    assert _refused(lambda: stranger.certificates.get_by_id(made.id)) == "not_found"
    assert [c.name for c in client.certificates.get_all()] == ["www"]

    kept = client.load_balancers.create(
        name="kept", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="fsn1"), services=[HTTP]
    )
    kept.action.wait_until_finished(max_retries=400)
    lb = kept.load_balancer
    before = len(_upstream(platform).load_balancers.get_all())
    theirs = _server(stranger, "not-yours", {})
    _compute_events_to_network(platform, theirs.id)
    out_of_range = LoadBalancerService(protocol="tcp", listen_port=70000, destination_port=80, proxyprotocol=False)
    assert _refused(lambda: client.load_balancers.add_service(lb, out_of_range)) == "invalid_input"
    assert _refused(lambda: client.load_balancers.add_service(lb, HTTP)) == "source_port_already_used"
    assert (
        _refused(lambda: client.load_balancers.add_target(lb, LoadBalancerTarget(type="server", server=theirs)))
        == "invalid_input"
    )
    assert (
        _refused(
            lambda: client.load_balancers.add_target(
                lb, LoadBalancerTarget(type="ip", ip=LoadBalancerTargetIP("10.0.0.1"))
            )
        )
        == "invalid_input"
    )
    assert _refused(lambda: client.load_balancers.disable_public_interface(lb)) == (
        "load_balancer_not_attached_to_network"
    )
    assert _refused(lambda: client.load_balancers.change_type(lb, LoadBalancerType(name="lb99"))) == "invalid_input"
    subnet = NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")
    mine = client.networks.create(name="lb-net", ip_range="10.0.0.0/16", subnets=[subnet])
    theirs_net = stranger.networks.create(name="their-net", ip_range="10.0.0.0/16", subnets=[subnet])
    assert _refused(lambda: client.load_balancers.attach_to_network(lb, mine, ip="10.9.9.9")) == "invalid_input"
    assert _refused(lambda: client.load_balancers.attach_to_network(lb, theirs_net)) == "invalid_input"
    assert (
        _refused(
            lambda: client.load_balancers.create(
                name="kept", load_balancer_type=LoadBalancerType(name="lb11"), location=Location(name="fsn1")
            )
        )
        == "uniqueness_error"
    )
    assert _refused(lambda: stranger.load_balancers.get_by_id(lb.id)) == "not_found"
    assert _refused(lambda: _delete(stranger, lb.id)) == "not_found"
    shown = client.load_balancers.get_by_id(lb.id)
    assert [s.listen_port for s in shown.services] == [80] and shown.targets == []
    assert len(_upstream(platform).load_balancers.get_all()) == before
    assert all(code.split()[-1].startswith(("2", "4")) for code in checked)
    _delete(client, lb.id)
    client.certificates.delete(made)
    assert client.certificates.get_all() == []
    _eventually(lambda: _labelled(platform, lb.id) == [])
    stranger.servers.delete(theirs).wait_until_finished(max_retries=400)


def test_a_running_load_balancer_is_metered_hourly_at_billings_price(platform: LivePlatform, workers: None) -> None:
    """Network's meter records one usage.recorded per started hour of a running load balancer,
    priced by billing's plan of its type over gRPC; a round run again records nothing twice."""
    network = platform.network
    assert network is not None
    _token(platform, "lb-metered@example.com")
    owner = seen_owner(platform, "lb-metered@example.com")
    start = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)
    with installed_clock(start) as clock:
        made, _ = load_balancers.create(
            load_balancers.NewLoadBalancer(
                user_id=owner, organization_id=None, name="metered", load_balancer_type="lb21", location="fsn1"
            ),
            lambda user_id, organization_id: None,
            network.uow(),
            load_balancers.Peers(network.compute, network.load_balancer_types, network.load_balancer_quotas),
        )
        _eventually(lambda: load_balancers.get(made.id, lambda u, o: None, network.uow()).status == "running")
        meter = network.meter()
        assert meter is not None
        clock.set(start + timedelta(hours=3))
        first = meter.run()
        again = meter.run()
        with network.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.event_id, outbox.c.envelope).where(outbox.c.event_type == "usage.recorded")
            ).all()
    usages = [UsageRecorded.FromString(EventEnvelope.FromString(row.envelope).payload.value) for row in rows]
    mine = [u for u in usages if (u.resource_type, u.resource_id) == ("load_balancer", made.id)]
    assert [(u.product, u.metric_type, Decimal(u.price_hourly), u.location) for u in mine] == [
        ("lb21", "compute_hours", Decimal("0.0258"), "fsn1")
    ] * 3
    assert sorted(u.period_start.ToDatetime(tzinfo=UTC).hour for u in mine) == [9, 10, 11]
    assert first.hours >= 3 and again.hours == 0
    assert len({row.event_id for row in rows}) == len(rows)

    # Billing invoices them on a line of their own.
    assert platform.billing is not None
    apply_to_billing(platform.billing, [user_created(owner)])
    mine_rows = [
        RawRecord("usage.events", 0, n, str(made.id).encode(), row.envelope)
        for n, (row, usage) in enumerate(zip(rows, usages, strict=True))
        if (usage.resource_type, usage.resource_id) == ("load_balancer", made.id)
    ]
    ProjectionRunner(platform.billing, BillingProjection()).apply_batch(mine_rows)
    with installed_clock(datetime(2031, 4, 2, 3, tzinfo=UTC)):
        run_invoices(platform.billing, date(2031, 3, 1))
    with platform.billing.connect() as conn:
        lines = conn.execute(sa.select(invoice_items.c.description, invoice_items.c.quantity)).all()
    assert [(line.description, int(line.quantity)) for line in lines if "load_balancer" in line.description] == [
        (f"load_balancer metered (#{made.id}) lb21, 2031-03", 3)
    ]
    network_uow = network.uow()
    action = load_balancers.delete(made.id, lambda u, o: None, network_uow)
    assert action.command == "delete_load_balancer"
    _eventually(lambda: _labelled(platform, made.id) == [])
