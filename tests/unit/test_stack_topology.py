"""The local stack's topology: one process per service, distinct ports, own database each;
the relays of every service database in one process."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cloudctl.paths import LocalPaths
from cloudctl.stack import (
    ALL_SERVICES,
    CONSUMERS,
    DOMAIN_SERVICES,
    PROJECTIONS,
    RELAYS,
    ProcessSpec,
    process_specs,
    stack_specs,
)
from support_service.config import Settings as SupportSettings


def service_specs(paths: LocalPaths) -> list[ProcessSpec]:
    """Every process but the hosts running all relays and all consumers."""
    return [s for s in process_specs(paths) if s.name not in (RELAYS, CONSUMERS)]


def relay_urls(paths: LocalPaths) -> dict[str, str]:
    [relays] = [s for s in process_specs(paths) if s.name == RELAYS]
    urls: dict[str, str] = json.loads(relays.env["CP_RELAY_DATABASE_URLS"])
    return urls


def test_every_service_has_a_process_with_distinct_ports(tmp_path: Path) -> None:
    specs = process_specs(LocalPaths(tmp_path))
    assert {s.service for s in specs} == {*ALL_SERVICES, RELAYS, CONSUMERS}
    ports = [p for s in specs for p in (s.grpc_port, s.http_port, s.metrics_port) if p]
    assert len(ports) == len(set(ports))


def test_each_service_connects_to_its_own_database_as_its_own_user(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    urls = [(s.service, s.env["CP_DATABASE_URL"]) for s in service_specs(paths)] + list(relay_urls(paths).items())
    for service, url in urls:
        assert url.startswith(f"mysql+pymysql://cp_{service}:")
        assert url.endswith(f"/cp_{service}")


def test_database_passwords_are_random_kept_and_private(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    first = {s.service: s.env["CP_DATABASE_URL"] for s in service_specs(paths)}
    second = {s.service: s.env["CP_DATABASE_URL"] for s in service_specs(paths)}
    assert first == second
    secret_file = paths.secrets / "database-passwords.json"
    assert secret_file.stat().st_mode & 0o077 == 0
    assert len(set(first.values())) == len(first) == len(ALL_SERVICES)


def test_every_service_database_has_its_outbox_relay_all_in_one_process(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    [relays] = [s for s in process_specs(paths) if s.module == "cpshared.events.relay_main"]
    assert (relays.name, relays.args, relays.kind) == (RELAYS, ("--all",), "worker")
    assert "CP_DATABASE_URL" not in relays.env and relays.env["CP_KAFKA_BOOTSTRAP"]
    urls = relay_urls(paths)
    assert set(urls) == set(ALL_SERVICES)
    main = {s.service: s for s in service_specs(paths) if s.kind != "worker"}
    for service, url in urls.items():
        assert url == main[service].env["CP_DATABASE_URL"]


def test_gateway_knows_every_domain_service_address(tmp_path: Path) -> None:
    gateway = next(s for s in process_specs(LocalPaths(tmp_path)) if s.service == "gateway")
    for service in DOMAIN_SERVICES:
        assert gateway.env[f"CP_{service.upper()}_GRPC_ADDR"].startswith("127.0.0.1:")


def test_only_identity_gets_the_principal_signing_key_made_once_and_private(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    specs = process_specs(paths)
    holders = {
        s.name: s.env["CP_PRINCIPAL_SIGNING_KEY_FILE"] for s in specs if "CP_PRINCIPAL_SIGNING_KEY_FILE" in s.env
    }
    assert list(holders) == ["identity-grpc"]
    key_file = Path(holders["identity-grpc"])
    assert key_file.parent == paths.secrets and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_text()
    process_specs(paths)
    assert key_file.read_text() == pem
    # Every gRPC server verifies assertions against identity's public key.
    servers = [s for s in specs if s.kind == "grpc"]
    assert servers and all(s.env["CP_PRINCIPAL_VERIFY_KEY_FILE"] == str(key_file.with_suffix(".pub")) for s in servers)


def test_the_calling_services_get_their_own_service_keys_and_every_server_trusts_them(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    specs = process_specs(paths)
    holders = {
        s.name: s.env["CP_PRINCIPAL_SERVICE_KEY_FILE"] for s in specs if "CP_PRINCIPAL_SERVICE_KEY_FILE" in s.env
    }
    assert sorted(holders) == [
        "compute-grpc",
        "compute-worker",
        "gateway-http",
        "network-grpc",
        "network-worker",
        "storage-grpc",
        "storage-worker",
        "support-grpc",
    ]
    assert holders["compute-grpc"] == holders["compute-worker"] != holders["gateway-http"]
    for service in ("network", "storage"):
        assert holders[f"{service}-grpc"] == holders[f"{service}-worker"]
    keys = {"gateway": holders["gateway-http"]} | {
        service: holders[f"{service}-grpc"] for service in ("compute", "network", "storage", "support")
    }
    assert len(set(keys.values())) == len(keys)
    gateway_key, compute_key = Path(keys["gateway"]), Path(keys["compute"])
    network_key, storage_key, support_key = Path(keys["network"]), Path(keys["storage"]), Path(keys["support"])
    for key_file in (gateway_key, compute_key, network_key, storage_key, support_key):
        assert key_file.parent == paths.secrets and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = gateway_key.read_text()
    servers = [s for s in process_specs(paths) if s.kind == "grpc"]
    assert gateway_key.read_text() == pem
    trusted = ",".join(
        f"{name}={key.with_suffix('.pub')}"
        for name, key in (
            ("gateway", gateway_key),
            ("compute", compute_key),
            ("network", network_key),
            ("storage", storage_key),
            ("support", support_key),
        )
    )
    for server in servers:
        assert server.env["CP_PRINCIPAL_SERVICE_KEYS"] == trusted


def test_compute_runs_its_provisioning_worker_reaching_identity_and_upstream(tmp_path: Path) -> None:
    specs = {s.name: s for s in process_specs(LocalPaths(tmp_path))}
    worker, server = specs["compute-worker"], specs["compute-grpc"]
    assert worker.kind == "worker" and worker.module == "compute_service.entrypoints.worker"
    assert worker.metrics_port == 9320 == int(worker.env["CP_METRICS_PORT"])
    identity = f"127.0.0.1:{specs['identity-grpc'].grpc_port}"
    assert worker.env["CP_IDENTITY_GRPC_ADDR"] == server.env["CP_IDENTITY_GRPC_ADDR"] == identity
    for name in ("CP_HCLOUD_ENDPOINT", "CP_HCLOUD_TOKEN_FILE", "CP_DATABASE_URL"):
        assert worker.env[name] == server.env[name]


def test_the_stack_runs_the_hetzner_simulator_on_its_own_ports(tmp_path: Path) -> None:
    specs = stack_specs(LocalPaths(tmp_path))
    sim = next(s for s in specs if s.name == "hetzner-sim")
    assert sim.kind == "http" and sim.module == "hetzner_sim"
    assert (sim.http_port, sim.metrics_port) == (8090, 9110)
    assert sim.env["CP_HETZNER_SIM_PORT"] == "8090" and sim.env["CP_HETZNER_SIM_TOKEN"]
    ports = [p for s in specs for p in (s.grpc_port, s.http_port, s.metrics_port) if p]
    assert len(ports) == len(set(ports))
    assert [s.name for s in specs[1:]] == [s.name for s in process_specs(LocalPaths(tmp_path))]


def test_every_projection_runs_in_the_consumer_host_on_its_own_services_database(tmp_path: Path) -> None:
    specs = process_specs(LocalPaths(tmp_path))
    host = next(s for s in specs if s.name == "consumers")
    assert host.module == "cpshared.events.consumer_main" and host.args == ("--all",)
    assert "CP_DATABASE_URL" not in host.env and host.env["CP_AUDIT_SIGNING_KEY_FILE"]
    consumers = json.loads(host.env["CP_CONSUMERS"])
    assert {name: c["projection"] for name, c in consumers.items()} == PROJECTIONS
    assert consumers["compute"]["projection"] == "compute_service.entrypoints.account_projection:AccountProjection"
    for name, consumer in consumers.items():
        assert consumer["database_url"].endswith(f"/cp_{name}")
    assert not [s for s in specs if s.name.endswith("-consumer")]
    ports = [s.metrics_port for s in specs if s.metrics_port is not None]
    assert len(ports) == len(set(ports))


def test_support_keeps_attachments_under_the_stacks_own_directory(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path)
    [server] = [s for s in process_specs(paths) if s.name == "support-grpc"]
    assert server.env["CP_ATTACHMENTS_DIR"] == str(paths.local / "support" / "attachments")
    settings = SupportSettings.model_validate(
        {name.removeprefix("CP_").lower(): value for name, value in server.env.items()}
    )
    assert settings.attachments_dir == server.env["CP_ATTACHMENTS_DIR"]
    assert settings.rules().policy.quiet_period.total_seconds() == 72 * 3600


def test_network_runs_its_worker_reaching_identity_compute_and_upstream(tmp_path: Path) -> None:
    specs = {s.name: s for s in process_specs(LocalPaths(tmp_path))}
    worker, server = specs["network-worker"], specs["network-grpc"]
    assert worker.kind == "worker" and worker.module == "network_service.entrypoints.worker"
    assert worker.metrics_port == 9321 == int(worker.env["CP_METRICS_PORT"])
    identity = f"127.0.0.1:{specs['identity-grpc'].grpc_port}"
    compute = f"127.0.0.1:{specs['compute-grpc'].grpc_port}"
    assert worker.env["CP_IDENTITY_GRPC_ADDR"] == server.env["CP_IDENTITY_GRPC_ADDR"] == identity
    assert worker.env["CP_COMPUTE_GRPC_ADDR"] == server.env["CP_COMPUTE_GRPC_ADDR"] == compute
    assert (
        worker.env["CP_HCLOUD_ENDPOINT"]
        == server.env["CP_HCLOUD_ENDPOINT"]
        == specs["compute-grpc"].env["CP_HCLOUD_ENDPOINT"]
    )


def test_monitoring_runs_its_consumer_and_its_collector_reading_upstream_as_compute_does(tmp_path: Path) -> None:
    specs = {s.name: s for s in process_specs(LocalPaths(tmp_path))}
    collector, compute = specs["monitoring-worker"], specs["compute-worker"]
    assert PROJECTIONS["monitoring"] == "monitoring_service.entrypoints.projection:MonitoringProjection"
    assert collector.kind == "worker" and collector.module == "monitoring_service.entrypoints.collector"
    assert collector.env["CP_DATABASE_URL"].endswith("/cp_monitoring")
    for name in ("CP_HCLOUD_ENDPOINT", "CP_HCLOUD_TOKEN_FILE"):
        assert collector.env[name] == compute.env[name]
    assert "CP_PRINCIPAL_SERVICE_KEY_FILE" not in collector.env


def test_monitoring_runs_its_alert_processor_as_a_process_of_its_own_not_a_projection(tmp_path: Path) -> None:
    specs = {s.name: s for s in process_specs(LocalPaths(tmp_path))}
    alerts = specs["monitoring-alerts"]
    assert alerts.kind == "worker" and alerts.module == "monitoring_service.entrypoints.alert_processor"
    assert alerts.env["CP_DATABASE_URL"].endswith("/cp_monitoring") and alerts.env["CP_KAFKA_BOOTSTRAP"]
    assert alerts.metrics_port == 9326 == int(alerts.env["CP_METRICS_PORT"])
    assert "monitoring_service.entrypoints.alert_processor" not in " ".join(PROJECTIONS.values())
