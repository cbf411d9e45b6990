"""Servers end to end below the gateway: compute on a scratch database, identity's gRPC server
(on its own scratch database, in a thread, trusting compute's service key) for the quotas, and
a fresh Hetzner simulator per test on a loopback port, its actions taking a fifth of a second.
The real hcloud client talks to the simulator over HTTP; nothing is mocked."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.adapters.billing_prices import BillingBackupPricing
from compute_service.adapters.quotas import IdentityQuotas
from compute_service.adapters.upstream import HcloudCatalog
from compute_service.adapters.upstream_servers import HcloudServers, RetryPolicy
from compute_service.bootstrap import Compute
from compute_service.service_layer import catalog
from compute_service.service_layer.provisioning import Provisioner
from cpshared.auth.principal import TrustedKeys, generate_private_key, private_key_pem
from cpshared.db import make_engine
from cpshared.mail import MailSettings
from cpshared.migrations import migrations_dir, upgrade
from hetzner_sim.app import create_app
from hetzner_sim.state import SimConfig
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import QuotaOwner, UserRole, UserStatus
from identity_service.domain.two_factor import SecretBox
from identity_service.entrypoints.grpc_server import add_servicers
from identity_service.service_layer import staff, users
from tests.integration.compute.conftest import SIM_TOKEN
from tests.integration.live import billing_in_thread, free_port, grpc_in_thread

ACTION_SECONDS = 0.2


@dataclass
class Simulator:
    url: str
    """Base URL with /v1, as hcloud wants it."""
    control: str
    """Base URL of the control endpoints (/_sim/...)."""

    def fault(self, **rule: Any) -> None:
        httpx.post(f"{self.control}/_sim/faults", json=rule, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.control}/_sim/faults", timeout=5).raise_for_status()

    def servers(self) -> list[dict[str, Any]]:
        """Every upstream server, read through the public API (labels included)."""
        answer = httpx.get(
            f"{self.url}/servers", params={"per_page": 50}, headers={"Authorization": f"Bearer {SIM_TOKEN}"}, timeout=5
        )
        answer.raise_for_status()
        return list(answer.json()["servers"])

    def labelled(self, server_id: int) -> list[dict[str, Any]]:
        return [s for s in self.servers() if s["labels"].get("cp_server_id") == str(server_id)]


@pytest.fixture
def simulator_v1() -> Iterator[Simulator]:
    app = create_app(SimConfig(action_seconds=ACTION_SECONDS), tokens=[SIM_TOKEN])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield Simulator(url=f"http://127.0.0.1:{port}/v1", control=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Platform:
    compute: Compute
    compute_url: str
    identity: Identity
    identity_address: str
    service_key_file: str
    token_file: str
    sim: Simulator
    user_id: int
    admin_id: int
    billing: sa.Engine

    def upstream(self, attempts: int = 6) -> HcloudServers:
        return HcloudServers(
            self.sim.url,
            Path(self.token_file).read_text().strip(),
            timeout=5,
            retry=RetryPolicy(attempts=attempts, initial_seconds=0.05, max_seconds=0.5),
        )

    def provisioner(self, attempts: int = 6) -> Provisioner:
        return Provisioner(self.compute.uow, self.upstream(attempts), self.compute.quotas)

    def set_server_limit(self, limit: int, user_id: int | None = None) -> None:
        staff.set_quota_limit(
            staff.SetQuotaLimit(
                acting_user_id=self.admin_id,
                owner=QuotaOwner(user_id=user_id or self.user_id),
                resource_type="server",
                quota_limit=limit,
            ),
            self.identity.uow,
        )

    def server_usage(self, user_id: int | None = None) -> int:
        with self.identity.uow() as uow:
            quota = uow.quotas.get(QuotaOwner(user_id=user_id or self.user_id), "server")
        return 0 if quota is None else int(quota.current_usage)

    def new_user(self, email: str) -> int:
        user = users.create_user(
            commands.CreateUser(
                name=email.split("@")[0], email=email, password="a long enough password 1", status=UserStatus.ACTIVE
            ),
            self.identity.uow(),
        )
        return int(user.id)


@pytest.fixture
def identity_url(paths: LocalPaths) -> Iterator[str]:
    with MariaDB(paths.root).scratch_database("cp_test_identity") as url:
        upgrade("identity", migrations_dir("identity"), url)
        yield url


@dataclass(frozen=True)
class ComputeKey:
    key: Ed25519PrivateKey
    file: str


@pytest.fixture(scope="session")
def compute_key(tmp_path_factory: pytest.TempPathFactory) -> ComputeKey:
    """Compute's service key pair for the session: identity and billing trust its public key."""
    key = generate_private_key()
    key_file = tmp_path_factory.mktemp("compute-key") / "compute-service.key"
    key_file.write_text(private_key_pem(key))
    os.chmod(key_file, 0o600)
    return ComputeKey(key, str(key_file))


@dataclass(frozen=True)
class BillingService:
    address: str
    engine: sa.Engine
    """Its database: a test that changes a plan puts it back."""


@pytest.fixture(scope="session")
def billing_service(paths: LocalPaths, compute_key: ComputeKey) -> Iterator[BillingService]:
    """Billing (one database for the session, its seeded plans) answering compute's price questions."""
    with MariaDB(paths.root).scratch_database("cp_test_compute_bi") as url:
        upgrade("billing", migrations_dir("billing"), url)
        engine = make_engine(url, pool_size=5)
        trusted = TrustedKeys(
            issuer=generate_private_key().public_key(), services={"compute": compute_key.key.public_key()}
        )
        try:
            with billing_in_thread(engine, trusted) as address:
                yield BillingService(address, engine)
        finally:
            engine.dispose()


@pytest.fixture
def platform(
    compute_url: str,
    identity_url: str,
    token_file: str,
    simulator_v1: Simulator,
    compute_key: ComputeKey,
    billing_service: BillingService,
) -> Iterator[Platform]:
    key_file = compute_key.file
    signing_key = generate_private_key()
    identity_engine = make_engine(identity_url, pool_size=5)
    identity = Identity(identity_engine, signing_key, MailSettings(), SecretBox(os.urandom(32)))
    trusted = TrustedKeys(issuer=signing_key.public_key(), services={"compute": compute_key.key.public_key()})
    with grpc_in_thread("identity", lambda server: add_servicers(server, identity), trusted) as address:
        quotas = IdentityQuotas(address, str(key_file))
        compute = Compute(
            make_engine(compute_url, pool_size=5),
            lambda: HcloudCatalog.from_settings(simulator_v1.url, token_file),
            quotas=quotas,
            backup_pricing=BillingBackupPricing(billing_service.address, key_file, ttl=0),
            upstream=lambda: HcloudServers(
                simulator_v1.url,
                Path(token_file).read_text().strip(),
                timeout=5,
                retry=RetryPolicy(attempts=3, initial_seconds=0.05, max_seconds=0.5),
            ),
        )
        try:
            catalog.sync_catalog(compute.catalog_source(), compute.uow())
            admin = users.create_user(
                commands.CreateUser(
                    name="admin",
                    email="admin@example.com",
                    password="a long enough password 1",
                    role=UserRole.ADMIN,
                    status=UserStatus.ACTIVE,
                ),
                identity.uow(),
            )
            platform = Platform(
                compute=compute,
                compute_url=compute_url,
                identity=identity,
                identity_address=address,
                service_key_file=key_file,
                token_file=token_file,
                sim=simulator_v1,
                user_id=0,
                admin_id=int(admin.id),
                billing=billing_service.engine,
            )
            platform.user_id = platform.new_user("client@example.com")
            yield platform
        finally:
            compute.close()
            identity_engine.dispose()
