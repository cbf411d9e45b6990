"""The identity service and the gateway served for real, in background threads, for tests
that call them synchronously (schemathesis, the authorization matrix): identity's gRPC server
on its own event loop in a thread, the gateway under uvicorn in another, each on a scratch
database and a loopback port. As in the stack, identity verifies every call's principal:
user assertions it signed itself, and the gateway's own service assertion. Optionally the
audit service's gRPC server too, on a scratch audit database, verifying the same way (and so compute and billing)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.types import ASGIApp

from audit_service.bootstrap import Audit
from audit_service.entrypoints.grpc_server import add_servicers as add_audit_servicers
from billing_service.bootstrap import Billing
from billing_service.config import BillingRules
from billing_service.entrypoints.grpc_billing import add_billing_servicer
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.billing_prices import BillingBackupPricing
from compute_service.adapters.quotas import IdentityQuotas
from compute_service.adapters.upstream import HcloudCatalog
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.bootstrap import Compute
from compute_service.entrypoints.grpc_server import add_servicers as add_compute_servicers
from compute_service.service_layer import catalog
from compute_service.service_layer.ports import BackupPricing, Quotas
from cpshared.auth.principal import TrustedKeys, generate_private_key, private_key_pem
from cpshared.clock import Clock
from cpshared.db import make_engine
from cpshared.grpc.server import Registrar, ServiceIdentity, serve
from cpshared.mail import MailSettings
from cpshared.migrations import migrations_dir, upgrade
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from hetzner_sim.app import create_app as create_simulator
from hetzner_sim.state import ManualClock as SimClock
from hetzner_sim.state import SimConfig
from identity_service.bootstrap import Identity
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_server import add_servicers
from monitoring_service.bootstrap import Monitoring
from monitoring_service.config import RetentionSettings
from monitoring_service.entrypoints.grpc_server import add_servicers as add_monitoring_servicers
from network_service.adapters.billing import BillingPrices as NetworkPrices
from network_service.adapters.compute import ComputeClient as NetworkComputeClient
from network_service.adapters.quotas import IdentityQuotas as NetworkQuotas
from network_service.adapters.upstream import HcloudFloatingIps
from network_service.adapters.upstream_firewalls import HcloudFirewalls
from network_service.adapters.upstream_load_balancers import HcloudLoadBalancers
from network_service.adapters.upstream_networks import HcloudNetworks
from network_service.adapters.upstream_primary_ips import HcloudPrimaryIps
from network_service.bootstrap import Network
from network_service.config import WorkerSettings as NetworkWorkerSettings
from network_service.entrypoints import worker as network_worker
from network_service.entrypoints.grpc_server import add_servicers as add_network_servicers
from network_service.service_layer.provisioning import Provisioner as NetworkProvisioner
from storage_service.adapters.billing import BillingPlans
from storage_service.adapters.compute import ComputeServers
from storage_service.adapters.quotas import IdentityQuotas as StorageQuotas
from storage_service.adapters.upstream import HcloudVolumes
from storage_service.bootstrap import Storage
from storage_service.entrypoints.grpc_server import add_servicers as add_storage_servicers
from support_service.adapters.compute_resources import ComputeResourceOwners
from support_service.adapters.object_store import LocalObjectStore
from support_service.adapters.recipients import IdentityRecipients
from support_service.bootstrap import Support
from support_service.entrypoints.grpc_server import add_servicers as add_support_servicers
from tests.integration.gateway import conftest as gateway_conftest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def grpc_in_thread(service: str, register: Registrar, trusted: TrustedKeys) -> Iterator[str]:
    """A gRPC server of ``service`` (the servicers ``register`` adds) on its own event loop in a
    thread, on a loopback port, verifying principals against ``trusted``; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def on_started() -> None:
        started.set()

    async def run() -> None:
        await serve(
            ServiceIdentity(service=service, version="test"),
            address,
            register,
            grace=0.5,
            on_started=on_started,
            stop_event=stop,
            trusted=trusted,
        )

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), name=f"{service}-grpc", daemon=True)
    thread.start()
    if not started.wait(15):
        raise RuntimeError(f"{service}'s gRPC server did not start")
    try:
        yield address
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


@contextlib.contextmanager
def identity_in_thread(
    engine: sa.Engine,
    trusted_gateway: Ed25519PublicKey,
    trusted_compute: Ed25519PublicKey | None = None,
    trusted_network: Ed25519PublicKey | None = None,
    trusted_storage: Ed25519PublicKey | None = None,
    trusted_support: Ed25519PublicKey | None = None,
) -> Iterator[tuple[str, Identity]]:
    """Identity (every servicer, a fresh signing key, mail to the local sink) on a loopback port,
    verifying user principals it signs and the gateway's (and compute's, network's, storage's,
    support's) service principals."""
    signing_key = generate_private_key()
    identity = Identity(engine, signing_key, MailSettings(), SecretBox(os.urandom(32)))
    services = {"gateway": trusted_gateway}
    if trusted_compute is not None:
        services["compute"] = trusted_compute
    if trusted_network is not None:
        services["network"] = trusted_network
    if trusted_storage is not None:
        services["storage"] = trusted_storage
    if trusted_support is not None:
        services["support"] = trusted_support
    trusted = TrustedKeys(issuer=signing_key.public_key(), services=services)
    with grpc_in_thread("identity", lambda server: add_servicers(server, identity), trusted) as address:
        yield address, identity


@contextlib.contextmanager
def audit_in_thread(engine: sa.Engine, trusted: TrustedKeys) -> Iterator[tuple[str, Audit]]:
    """The audit service's query API on a loopback port, verifying principals as identity's peers do."""
    audit = Audit(engine)
    with grpc_in_thread("audit", lambda server: add_audit_servicers(server, audit), trusted) as address:
        yield address, audit


@contextlib.contextmanager
def billing_in_thread(engine: sa.Engine, trusted: TrustedKeys) -> Iterator[str]:
    """The billing service's gRPC API on a loopback port, verifying principals as identity's peers do."""
    with grpc_in_thread(
        "billing", lambda server: add_billing_servicer(server, Billing(engine, BillingRules())), trusted
    ) as a:
        yield a


@contextlib.contextmanager
def support_in_thread(
    engine: sa.Engine, trusted: TrustedKeys, *, identity: str, compute: str | None, key_file: Path
) -> Iterator[tuple[str, Support]]:
    """The support service's gRPC API on a loopback port (attachments in a scratch directory),
    verifying principals as identity's peers do, asking identity (who a user is) and compute
    (whose a resource is) as itself (``key_file``)."""
    with tempfile.TemporaryDirectory() as attachments:
        support = Support(
            engine,
            LocalObjectStore(attachments),
            accounts=IdentityRecipients(identity, str(key_file)),
            owners=ComputeResourceOwners(compute, str(key_file)) if compute else None,
        )
        with grpc_in_thread("support", lambda server: add_support_servicers(server, support), trusted) as address:
            yield address, support


@contextlib.contextmanager
def monitoring_in_thread(engine: sa.Engine, trusted: TrustedKeys) -> Iterator[tuple[str, Monitoring]]:
    """The monitoring service's gRPC API on a loopback port (no retention keeper: tests run it)."""
    monitoring = Monitoring(engine)
    with grpc_in_thread(
        "monitoring", lambda server: add_monitoring_servicers(server, monitoring, RetentionSettings()), trusted
    ) as address:
        yield address, monitoring


SIMULATOR_TOKEN = "live-platform-sim-token"


@contextlib.contextmanager
def network_in_thread(
    engine: sa.Engine,
    trusted: TrustedKeys,
    identity_address: str,
    compute_address: str,
    key_file: str,
    billing_address: str = "",
) -> Iterator[tuple[str, Network]]:
    """Network on a loopback port, reserving quotas at identity, reading servers at compute and
    prices at billing as network's service principal (key ``key_file``); its worker and meter
    are the test's to run."""
    network = Network(
        engine,
        quotas=NetworkQuotas(identity_address, key_file),
        network_quotas=NetworkQuotas(identity_address, key_file, "network"),
        firewall_quotas=NetworkQuotas(identity_address, key_file, "firewall"),
        primary_ip_quotas=NetworkQuotas(identity_address, key_file, "primary_ip"),
        load_balancer_quotas=NetworkQuotas(identity_address, key_file, "load_balancer"),
        compute=NetworkComputeClient(compute_address, key_file),
        prices=NetworkPrices(billing_address, key_file) if billing_address else None,
    )
    try:
        with grpc_in_thread(
            "network", lambda server: add_network_servicers(server, network, create_wait_seconds=20), trusted
        ) as address:
            yield address, network
    finally:
        network.close()


@contextlib.contextmanager
def simulator_in_thread() -> Iterator[str]:
    """A Hetzner simulator under uvicorn on a loopback port; yields its API endpoint (with /v1)."""
    # Hetzner's 3,600 requests an hour are the simulator's default; a live platform's suites (the
    # authorization matrix makes thousands of upstream calls) are not about that limit, which its
    # own tests cover: a budget no suite reaches.
    app = create_simulator(
        SimConfig(action_seconds=0, rate_limit=1_000_000), clock=SimClock(), tokens=[SIMULATOR_TOKEN]
    )
    with contextlib.contextmanager(gateway_conftest.serve)(app) as base_url:
        yield f"{base_url}/v1"


@contextlib.contextmanager
def compute_in_thread(
    engine: sa.Engine, trusted: TrustedKeys, quotas: Quotas | None = None, backup_pricing: BackupPricing | None = None
) -> Iterator[tuple[str, Compute, str]]:
    """Compute on a loopback port, its catalog synced once from an in-process simulator (as the
    compute server does at start), verifying principals as identity's peers do; yields its
    address, the service and the simulator's API endpoint (token :data:`SIMULATOR_TOKEN`)."""
    with tempfile.TemporaryDirectory() as secrets, simulator_in_thread() as endpoint:
        token_file = Path(secrets) / "hcloud-token"
        token_file.write_text(SIMULATOR_TOKEN)
        compute = Compute(
            engine,
            lambda: HcloudCatalog.from_settings(endpoint, str(token_file)),
            quotas=quotas,
            backup_pricing=backup_pricing,
            upstream=lambda: HcloudServers(endpoint, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3)),
        )
        catalog.sync_catalog(compute.catalog_source(), compute.uow())
        try:
            with grpc_in_thread("compute", lambda server: add_compute_servicers(server, compute), trusted) as address:
                yield address, compute, endpoint
        finally:
            compute.close()


@dataclass(frozen=True)
class StorageNeighbours:
    """The gRPC addresses storage calls: identity's quotas, compute's servers, billing's plans."""

    identity: str
    compute: str
    billing: str = ""


@contextlib.contextmanager
def storage_in_thread(
    engine: sa.Engine, trusted: TrustedKeys, neighbours: StorageNeighbours, key_file: Path, simulator: str
) -> Iterator[tuple[str, Storage]]:
    """Storage on a loopback port, calling its neighbours as itself (``key_file``), its worker's
    upstream the simulator at ``simulator``; yields its address and the service."""
    storage = Storage(
        engine,
        quotas=StorageQuotas(neighbours.identity, str(key_file)),
        servers=ComputeServers(neighbours.compute, str(key_file)),
        plans=BillingPlans(neighbours.billing, str(key_file)) if neighbours.billing else None,
        upstream=lambda: HcloudVolumes(
            simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
        ),
    )
    try:
        with grpc_in_thread("storage", lambda server: add_storage_servicers(server, storage), trusted) as address:
            yield address, storage
    finally:
        storage.close()


@dataclass(frozen=True)
class LivePlatform:
    gateway: str
    """Base URL of the gateway, e.g. http://127.0.0.1:41234."""
    identity: Identity
    """Identity wired to the same database, for test setup through its use cases."""
    audit: Audit | None = None
    """The audit service, when the platform runs it (``audit_url``): its engine writes test rows."""
    compute: Compute | None = None
    """The compute service, when the platform runs it (``compute_url``), with its catalog synced
    and identity's quotas."""
    simulator: str | None = None
    """The Hetzner simulator's API endpoint compute uses (with /v1; token :data:`SIMULATOR_TOKEN`)."""
    billing: sa.Engine | None = None
    """The billing service's database, when the platform runs billing (``billing_url``): tests
    feed it events through the billing projection and run invoices on it."""
    storage_worker_env: dict[str, str] = field(default_factory=dict)
    """With storage: the environment a storage worker process needs to join this platform
    (``python -m storage_service.entrypoints.worker``), but for its metrics port."""
    storage: Storage | None = None
    """The storage service, when the platform runs it (``storage_url``, with compute): identity's
    quotas, compute's servers, and the simulator as its worker's upstream (the tests run the
    worker: ``storage.provisioner()``)."""
    support: Support | None = None
    """The support service, when the platform runs it (``support_url``): tests run its ticket
    keeper and read its outbox through it."""
    network: Network | None = None
    """The network service, when the platform runs it (``network_url``, with compute): its worker
    is the test's to run (``network.provisioner`` needs an upstream: pass one to Provisioner)."""
    network_worker_env: dict[str, str] = field(default_factory=dict)
    """With network: the environment a network worker process needs to join this platform
    (``python -m network_service.entrypoints.worker``), but for its metrics port."""
    monitoring: Monitoring | None = None
    """The monitoring service, when the platform runs compute: tests feed its projection and
    run its collector against the simulator."""


@contextlib.contextmanager
def live_platform(
    identity_url: str,
    gateway_url: str,
    clock: Clock | None = None,
    audit_url: str | None = None,
    compute_url: str | None = None,
    billing_url: str | None = None,
    wrap_gateway: Callable[[ASGIApp], ASGIApp] | None = None,
    storage_url: str | None = None,
    support_url: str | None = None,
    network_url: str | None = None,
    monitoring_url: str | None = None,
) -> Iterator[LivePlatform]:
    """Identity and the gateway; with ``audit_url`` (a migrated audit database) the audit
    service too, and with ``compute_url`` (a migrated compute database) the compute service,
    both trusting identity's and the gateway's keys. The gateway's other backends point at a
    closed port. ``wrap_gateway`` wraps the gateway's ASGI app before it is served (a test
    recording every answer). A platform with compute runs billing too (on a scratch database
    of its own unless ``billing_url`` names one): the catalog and the servers the gateway
    answers carry billing's prices (its VAT, the traffic included). With ``support_url`` (a
    migrated support database) the support service runs too; with ``network_url`` or
    ``storage_url`` (migrated databases; need ``compute_url``) the network and storage services;
    and monitoring (on a scratch database unless ``monitoring_url`` names one), which answers the
    servers' metrics."""
    with contextlib.ExitStack() as scratch:
        if compute_url and not billing_url:
            billing_url = scratch.enter_context(MariaDB(LocalPaths().root).scratch_database("cp_test_live_bi"))
            upgrade("billing", migrations_dir("billing"), billing_url)
        if compute_url and not monitoring_url:
            monitoring_url = scratch.enter_context(MariaDB(LocalPaths().root).scratch_database("cp_test_live_mo"))
            upgrade("monitoring", migrations_dir("monitoring"), monitoring_url)
        with _live_platform(
            identity_url,
            gateway_url,
            clock,
            audit_url,
            compute_url,
            billing_url,
            wrap_gateway,
            storage_url=storage_url,
            support_url=support_url,
            network_url=network_url,
            monitoring_url=monitoring_url,
        ) as platform:
            yield platform


@contextlib.contextmanager
def _live_platform(
    identity_url: str,
    gateway_url: str,
    clock: Clock | None,
    audit_url: str | None,
    compute_url: str | None,
    billing_url: str | None,
    wrap_gateway: Callable[[ASGIApp], ASGIApp] | None,
    storage_url: str | None = None,
    support_url: str | None = None,
    network_url: str | None = None,
    monitoring_url: str | None = None,
) -> Iterator[LivePlatform]:
    identity_engine = make_engine(identity_url, pool_size=10)
    gateway_engine = make_engine(gateway_url, pool_size=10)
    audit_engine = make_engine(audit_url, pool_size=10) if audit_url else None
    compute_engine = make_engine(compute_url, pool_size=10) if compute_url else None
    billing_engine = make_engine(billing_url, pool_size=10) if billing_url else None
    storage_engine = make_engine(storage_url, pool_size=10) if storage_url else None
    support_engine = make_engine(support_url, pool_size=10) if support_url else None
    network_engine = make_engine(network_url, pool_size=10) if network_url else None
    monitoring_engine = make_engine(monitoring_url, pool_size=10) if monitoring_url else None
    gateway_key = generate_private_key()
    compute_key = generate_private_key()
    network_key = generate_private_key()
    storage_key = generate_private_key()
    support_key = generate_private_key()
    try:
        with (
            tempfile.TemporaryDirectory() as keys,
            identity_in_thread(
                identity_engine,
                gateway_key.public_key(),
                compute_key.public_key(),
                network_key.public_key(),
                storage_key.public_key() if storage_engine is not None else None,
                support_key.public_key() if support_engine is not None else None,
            ) as (
                address,
                identity,
            ),
            contextlib.ExitStack() as optional,
        ):
            audit: Audit | None = None
            compute: Compute | None = None
            simulator: str | None = None
            monitoring: Monitoring | None = None
            storage: Storage | None = None
            storage_worker_env: dict[str, str] = {}
            backends = {f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS}
            assert identity.signing_key is not None
            services = {
                "gateway": gateway_key.public_key(),
                "compute": compute_key.public_key(),
                "network": network_key.public_key(),
            }
            if storage_engine is not None:
                services["storage"] = storage_key.public_key()  # storage calls compute and billing as itself
            if support_engine is not None:
                services["support"] = support_key.public_key()  # support asks compute whose a resource is
            trusted = TrustedKeys(issuer=identity.signing_key.public_key(), services=services)
            if audit_engine is not None:
                audit_address, audit = optional.enter_context(audit_in_thread(audit_engine, trusted))
                backends["audit_grpc_addr"] = audit_address
            if billing_engine is not None:
                backends["billing_grpc_addr"] = optional.enter_context(billing_in_thread(billing_engine, trusted))
            if compute_engine is not None:
                compute_key_file = Path(keys) / "compute.key"
                compute_key_file.write_text(private_key_pem(compute_key))
                os.chmod(compute_key_file, 0o600)
                quotas = IdentityQuotas(address, str(compute_key_file))
                # Billing runs beside compute (live_platform sees to it): backups cost its plan's share.
                backup_pricing = BillingBackupPricing(backends["billing_grpc_addr"], str(compute_key_file), ttl=0)
                compute_address, compute, simulator = optional.enter_context(
                    compute_in_thread(compute_engine, trusted, quotas, backup_pricing)
                )
                backends["compute_grpc_addr"] = compute_address
            if storage_engine is not None:
                assert simulator is not None, "storage needs compute (compute_url)"
                storage_key_file = Path(keys) / "storage.key"
                storage_key_file.write_text(private_key_pem(storage_key))
                os.chmod(storage_key_file, 0o600)
                neighbours = StorageNeighbours(
                    identity=address,
                    compute=backends["compute_grpc_addr"],
                    billing=backends["billing_grpc_addr"] if billing_engine is not None else "",
                )
                storage_address, storage = optional.enter_context(
                    storage_in_thread(storage_engine, trusted, neighbours, storage_key_file, simulator)
                )
                backends["storage_grpc_addr"] = storage_address
                token_file = Path(keys) / "hcloud-token"
                token_file.write_text(SIMULATOR_TOKEN)
                storage_worker_env = {
                    "CP_SERVICE_NAME": "storage",
                    "CP_DATABASE_URL": str(storage_url),
                    "CP_HCLOUD_ENDPOINT": simulator,
                    "CP_HCLOUD_TOKEN_FILE": str(token_file),
                    "CP_IDENTITY_GRPC_ADDR": neighbours.identity,
                    "CP_COMPUTE_GRPC_ADDR": neighbours.compute,
                    "CP_BILLING_GRPC_ADDR": neighbours.billing,
                    "CP_PRINCIPAL_SERVICE_KEY_FILE": str(storage_key_file),
                }
            support: Support | None = None
            if support_engine is not None:
                support_key_file = Path(keys) / "support.key"
                support_key_file.write_text(private_key_pem(support_key))
                os.chmod(support_key_file, 0o600)
                support_address, support = optional.enter_context(
                    support_in_thread(
                        support_engine,
                        trusted,
                        identity=address,
                        compute=backends["compute_grpc_addr"] if compute_engine is not None else None,
                        key_file=support_key_file,
                    )
                )
                backends["support_grpc_addr"] = support_address
            network: Network | None = None
            network_worker_env: dict[str, str] = {}
            if network_engine is not None:
                assert compute_engine is not None, "network needs compute (its servers and locations)"
                network_key_file = Path(keys) / "network.key"
                network_key_file.write_text(private_key_pem(network_key))
                os.chmod(network_key_file, 0o600)
                network_address, network = optional.enter_context(
                    network_in_thread(
                        network_engine,
                        trusted,
                        address,
                        backends["compute_grpc_addr"],
                        str(network_key_file),
                        backends.get("billing_grpc_addr", ""),
                    )
                )
                backends["network_grpc_addr"] = network_address
                assert simulator is not None
                network_token_file = Path(keys) / "hcloud-token"
                network_token_file.write_text(SIMULATOR_TOKEN)
                network_worker_env = {
                    "CP_SERVICE_NAME": "network",
                    "CP_DATABASE_URL": str(network_url),
                    "CP_HCLOUD_ENDPOINT": simulator,
                    "CP_HCLOUD_TOKEN_FILE": str(network_token_file),
                    "CP_IDENTITY_GRPC_ADDR": address,
                    "CP_COMPUTE_GRPC_ADDR": backends["compute_grpc_addr"],
                    "CP_BILLING_GRPC_ADDR": backends.get("billing_grpc_addr", ""),
                    "CP_PRINCIPAL_SERVICE_KEY_FILE": str(network_key_file),
                }
            if monitoring_engine is not None:
                monitoring_address, monitoring = optional.enter_context(
                    monitoring_in_thread(monitoring_engine, trusted)
                )
                backends["monitoring_grpc_addr"] = monitoring_address
            key_file = Path(keys) / "gateway.key"
            key_file.write_text(private_key_pem(gateway_key))
            settings = Settings.model_validate(
                {
                    "service_name": "gateway",
                    "metrics_port": 0,
                    "database_url": gateway_url,
                    **backends,
                    "identity_grpc_addr": address,
                    "principal_service_key_file": str(key_file),
                }
            )
            app = create_app(settings, gateway_engine, clock=clock)
            served = wrap_gateway(app) if wrap_gateway is not None else app
            with contextlib.contextmanager(gateway_conftest.serve)(served) as base_url:
                yield LivePlatform(
                    gateway=base_url,
                    identity=identity,
                    audit=audit,
                    compute=compute,
                    simulator=simulator,
                    billing=billing_engine,
                    storage=storage,
                    storage_worker_env=storage_worker_env,
                    support=support,
                    network=network,
                    network_worker_env=network_worker_env,
                    monitoring=monitoring,
                )
    finally:
        gateway_engine.dispose()
        identity_engine.dispose()
        if audit_engine is not None:
            audit_engine.dispose()
        if compute_engine is not None:
            compute_engine.dispose()
        if billing_engine is not None:
            billing_engine.dispose()
        if storage_engine is not None:
            storage_engine.dispose()
        if support_engine is not None:
            support_engine.dispose()
        if network_engine is not None:
            network_engine.dispose()
        if monitoring_engine is not None:
            monitoring_engine.dispose()


@contextlib.contextmanager
def network_worker_running(platform: LivePlatform) -> Iterator[None]:
    """Network's worker (its entrypoint's loop) in a thread, against the platform's simulator."""
    assert platform.network is not None and platform.simulator is not None
    upstream = HcloudFloatingIps(
        platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    network = platform.network
    networks = HcloudNetworks(
        platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    firewalls = HcloudFirewalls(
        platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    primary_ips = HcloudPrimaryIps(
        platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    load_balancers = HcloudLoadBalancers(
        platform.simulator, SIMULATOR_TOKEN, timeout=10, retry=RetryPolicy(attempts=3, initial_seconds=0.05)
    )
    provisioner = NetworkProvisioner(
        network.uow,
        upstream,
        network.quotas,
        network.compute,
        networks=networks,
        network_quotas=network.network_quotas,
        firewalls=firewalls,
        primary_ips=primary_ips,
        primary_ip_quotas=network.primary_ip_quotas,
        load_balancers=load_balancers,
        load_balancer_quotas=network.load_balancer_quotas,
    )
    settings = NetworkWorkerSettings.model_construct(
        worker_poll_interval=0.05, worker_sweep_interval=3600.0, upstream_retry_initial_seconds=0.05
    )
    stop = threading.Event()
    thread = threading.Thread(target=network_worker.run, args=(provisioner, settings, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)
