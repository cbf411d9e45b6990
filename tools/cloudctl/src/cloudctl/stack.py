"""The topology of the local stack: which processes run, on which ports, with which settings.

The same topology is written out for Docker in docker-compose.yml and for Kubernetes in
deploy/; a test checks that those files name the variables the settings read.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from urllib.parse import quote

from cloudctl.paths import LocalPaths
from cpshared.auth.principal import write_key_pair

DOMAIN_SERVICES = ("identity", "compute", "network", "storage", "billing", "monitoring", "support", "audit")
ALL_SERVICES = (*DOMAIN_SERVICES, "gateway")

MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306
KAFKA_BOOTSTRAP = "127.0.0.1:9092"
SMTP_HOST, SMTP_PORT = "127.0.0.1", 2525
GATEWAY_POOL_SIZE = 20


@dataclass(frozen=True)
class Ports:
    gateway_http: int = 8080
    # Below Linux's ephemeral range (32768-60999): a listening port inside it can be taken
    # by the client side of any outgoing connection (a MariaDB or Kafka socket) just before
    # the service binds it, and the service then fails to start.
    grpc_base: int = 7051
    metrics_base: int = 9100

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            gateway_http=int(os.environ.get("CP_GATEWAY_HTTP_PORT", 8080)),
            grpc_base=int(os.environ.get("CP_GRPC_BASE_PORT", cls.grpc_base)),
            metrics_base=int(os.environ.get("CP_METRICS_BASE_PORT", 9100)),
        )

    def grpc(self, service: str) -> int:
        return self.grpc_base + DOMAIN_SERVICES.index(service)

    def metrics(self, service: str) -> int:
        return self.metrics_base + ALL_SERVICES.index(service)

    def relay_metrics(self, service: str) -> int:
        return self.metrics_base + 100 + ALL_SERVICES.index(service)

    def worker_metrics(self, service: str) -> int:
        """A service's worker: its own offset (WORKERS) past the consumers' range, e.g. compute's worker on 9320."""
        return self.metrics_base + WORKERS[service][1]


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack, started with ``python -m <module>``."""

    name: str
    service: str
    module: str
    env: dict[str, str] = field(hash=False)
    grpc_port: int | None = None
    http_port: int | None = None
    metrics_port: int | None = None
    args: tuple[str, ...] = ()

    @property
    def port(self) -> int | None:
        return self.http_port or self.grpc_port

    @property
    def kind(self) -> str:
        """How health is probed: gRPC health, HTTP /healthz, or a worker's /metrics answering."""
        if self.grpc_port:
            return "grpc"
        return "http" if self.http_port else "worker"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args]


def database_name(service: str) -> str:
    return f"cp_{service}"


def database_user(service: str) -> str:
    return f"cp_{service}"


class Secrets:
    """Per-service database passwords, made once at random and kept in .local/secrets (0600)."""

    def __init__(self, paths: LocalPaths) -> None:
        self._file = paths.secrets / "database-passwords.json"

    def database_passwords(self) -> dict[str, str]:
        known: dict[str, str] = {}
        if self._file.exists():
            known = json.loads(self._file.read_text())
        missing = [s for s in ALL_SERVICES if s not in known]
        if missing:
            known.update({s: secrets.token_urlsafe(24) for s in missing})
            self._file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self._file.with_suffix(".tmp")
            tmp.touch(mode=0o600)
            tmp.write_text(json.dumps(known, indent=2, sort_keys=True))
            tmp.replace(self._file)
        return known


def database_url(service: str, password: str, host: str = MARIADB_HOST, port: int = MARIADB_PORT) -> str:
    return f"mysql+pymysql://{database_user(service)}:{quote(password, safe='')}@{host}:{port}/{database_name(service)}"


def common_env(service: str, password: str, metrics_port: int) -> dict[str, str]:
    """The variables every process of ``service`` reads (the gateway's HTTP process drops Kafka)."""
    return {
        "CP_SERVICE_NAME": service,
        "CP_ENVIRONMENT": os.environ.get("CP_ENVIRONMENT", "local"),
        "CP_LOG_LEVEL": os.environ.get("CP_LOG_LEVEL", "INFO"),
        "CP_LOG_JSON": "true",
        "CP_METRICS_PORT": str(metrics_port),
        "CP_DATABASE_URL": database_url(service, password),
        "CP_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
    }


def mail_env(ports: Ports) -> dict[str, str]:
    """Where a mail-sending process sends mail: the local SMTP sink (cloudctl.infra.mailsink)."""
    return {
        "CP_SMTP_HOST": SMTP_HOST,
        "CP_SMTP_PORT": str(SMTP_PORT),
        "CP_PUBLIC_URL": f"http://127.0.0.1:{ports.gateway_http}",
    }


PRINCIPAL_KEY_NAME = "principal-signing"


def principal_key_files(paths: LocalPaths) -> tuple[str, str]:
    """Identity's Ed25519 key pair, made once in .local/secrets: (private key 0600, public key)."""
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = write_key_pair(paths.secrets, PRINCIPAL_KEY_NAME)
    return str(private), str(public)


DATA_KEY_NAME = "data-encryption.key"


AUDIT_KEY_NAME = "audit-signing.key"


def random_key_file(paths: LocalPaths, name: str) -> str:
    """A file of 32 random bytes (base64) in .local/secrets (mode 0600), made once."""
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = paths.secrets / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return str(path)


def data_encryption_key_file(paths: LocalPaths) -> str:
    """Identity's AES-256 key for secrets at rest (TOTP)."""
    return random_key_file(paths, DATA_KEY_NAME)


def audit_signing_key_file(paths: LocalPaths) -> str:
    """The audit log's HMAC key: every row's hash and every digest is signed with it."""
    return random_key_file(paths, AUDIT_KEY_NAME)


HCLOUD_TOKEN_NAME = "hcloud-token"  # noqa: S105 - a file name, not a secret


def hcloud_token_file(paths: LocalPaths) -> str:
    """The upstream token compute uses: the simulator's token, in .local/secrets (0600), made once."""
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = paths.secrets / HCLOUD_TOKEN_NAME
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(os.environ.get("CP_HETZNER_SIM_TOKEN", HETZNER_SIM_TOKEN) + "\n")
    return str(path)


# The projections that run as consumers, by service: module:Factory for consumer_main.
PROJECTIONS = {
    "audit": "audit_service.entrypoints.projection:from_environment",
    # Compute follows identity (an account's suspension reaches its servers) and monitoring's usage
    # summaries on monitoring.metrics (its servers' traffic and usage columns).
    "compute": "compute_service.entrypoints.account_projection:AccountProjection",
    "billing": "billing_service.entrypoints.projection:BillingProjection",
    # Storage follows compute: a deleted server's volumes are detached.
    "storage": "storage_service.entrypoints.server_projection:ServerProjection",
    # Support follows its own stream, compute's, identity's, billing's and monitoring's: replies,
    # resolutions, maintenance windows, invoices, suspensions, sign-ins, failed servers and alerts
    # reach the people concerned.
    "support": "support_service.entrypoints.notification_projection:NotificationProjection",
    # Network follows compute and identity: a deleted server's floating IPs are unassigned, a
    # suspended account's blocked, an erased one's deleted.
    "network": "network_service.entrypoints.server_projection:ServerProjection",
    # Monitoring follows compute's servers (which run, their upstream ids) and stores the samples.
    "monitoring": "monitoring_service.entrypoints.projection:MonitoringProjection",
    # Identity follows billing: dunning suspends and reactivates users and organizations.
    "identity": "identity_service.entrypoints.billing_projection:BillingProjection",
}

# The services' workers, by service: the module that runs as ``<service>-worker`` and its metrics
# port's offset from the metrics base (beside the relays' and consumers' ranges; checked unique).
WORKERS = {
    "compute": ("compute_service.entrypoints.worker", 220),
    "network": ("network_service.entrypoints.worker", 221),
    "storage": ("storage_service.entrypoints.worker", 222),
    # Monitoring's collector: upstream's metrics of every running server, each minute.
    "monitoring": ("monitoring_service.entrypoints.collector", 225),
}

# The services' stream processors (faust-streaming, not projections: windowed state in Kafka
# changelogs), by service: the module that runs as ``<service>-alerts`` and its metrics port's
# offset from the metrics base (beside the workers').
STREAM_PROCESSORS = {
    # Monitoring's alert evaluation: one window per (rule, server) over monitoring.metrics.
    "monitoring": ("monitoring_service.entrypoints.alert_processor", 226),
}

# The services that call other services over gRPC, each with its own Ed25519 key pair.
CALLING_SERVICES = ("gateway", "compute", "network", "storage", "support")


def service_key_files(paths: LocalPaths, service: str) -> tuple[str, str]:
    """``service``'s own Ed25519 key pair, made once in .local/secrets: (private key 0600, public key)."""
    paths.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = write_key_pair(paths.secrets, f"service-{service}")
    return str(private), str(public)


def process_specs(paths: LocalPaths, ports: Ports | None = None) -> list[ProcessSpec]:
    ports = ports or Ports.from_env()
    passwords = Secrets(paths).database_passwords()
    signing_key_file, verify_key_file = principal_key_files(paths)
    service_keys = {service: service_key_files(paths, service) for service in CALLING_SERVICES}
    trusted_service_keys = ",".join(f"{service}={public}" for service, (_, public) in service_keys.items())
    specs: list[ProcessSpec] = []
    for service in DOMAIN_SERVICES:
        env = common_env(service, passwords[service], ports.metrics(service))
        env |= {"CP_GRPC_HOST": "127.0.0.1", "CP_GRPC_PORT": str(ports.grpc(service))}
        # Every server verifies principal assertions: user principals against identity's
        # public key, service principals against the calling services' own public keys.
        # Only identity holds identity's private key.
        env["CP_PRINCIPAL_VERIFY_KEY_FILE"] = verify_key_file
        env["CP_PRINCIPAL_SERVICE_KEYS"] = trusted_service_keys
        if service == "identity":
            env["CP_PRINCIPAL_SIGNING_KEY_FILE"] = signing_key_file
            env["CP_DATA_ENCRYPTION_KEY_FILE"] = data_encryption_key_file(paths)
            env |= mail_env(ports)
        if service == "audit":
            env["CP_AUDIT_SIGNING_KEY_FILE"] = audit_signing_key_file(paths)
        if service == "support":
            # Ticket attachments: the local object store's directory, under the stack's own.
            env["CP_ATTACHMENTS_DIR"] = str(paths.local / "support" / "attachments")
            # Support mails notifications to the SMTP sink, asking identity (as itself) who a user is.
            env |= mail_env(ports)
            env["CP_IDENTITY_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('identity')}"
            # Alert notices go through their rules' channels, asked of monitoring (as support);
            # locally a webhook may point at a receiver on this machine.
            env["CP_MONITORING_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('monitoring')}"
            env["CP_WEBHOOK_ALLOW_INTERNAL_TARGETS"] = "true"
            # A ticket's related resource must be the opener's: support asks compute (as itself).
            env["CP_COMPUTE_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('compute')}"
            env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = service_keys["support"][0]
        if service == "compute":
            # Compute drives upstream (Hetzner) through hcloud: locally, the simulator.
            env["CP_HCLOUD_ENDPOINT"] = f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"
            env["CP_HCLOUD_TOKEN_FILE"] = hcloud_token_file(paths)
            # Compute reserves and releases server quotas at identity, as itself.
            env["CP_IDENTITY_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('identity')}"
            # Compute asks billing's backup plan what backups cost, as itself.
            env["CP_BILLING_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('billing')}"
            env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = service_keys["compute"][0]
        if service == "network":
            # Network drives upstream's floating IPs through hcloud (locally, the simulator), reserves
            # floating IP quotas at identity and reads servers and locations at compute, as itself.
            env["CP_HCLOUD_ENDPOINT"] = f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"
            env["CP_HCLOUD_TOKEN_FILE"] = hcloud_token_file(paths)
            env["CP_IDENTITY_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('identity')}"
            env["CP_COMPUTE_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('compute')}"
            env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = service_keys["network"][0]
        if service == "monitoring":
            # Monitoring's collector reads upstream's metrics through hcloud, as compute does.
            env["CP_HCLOUD_ENDPOINT"] = f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"
            env["CP_HCLOUD_TOKEN_FILE"] = hcloud_token_file(paths)
        if service == "storage":
            # Storage reserves volume quotas at identity and asks compute for servers and
            # datacenters, as itself; its worker drives upstream volumes (below).
            env["CP_IDENTITY_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('identity')}"
            env["CP_COMPUTE_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('compute')}"
            env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = service_keys["storage"][0]
        specs.append(
            ProcessSpec(
                name=f"{service}-grpc",
                service=service,
                module=f"{service}_service.entrypoints.grpc_server",
                env=env,
                grpc_port=ports.grpc(service),
                metrics_port=ports.metrics(service),
            )
        )
    gateway_env = common_env("gateway", passwords["gateway"], ports.metrics("gateway"))
    gateway_env |= {"CP_HTTP_HOST": "127.0.0.1", "CP_HTTP_PORT": str(ports.gateway_http)}
    # Every request uses the database (rate limit, request log) from the server's thread pool:
    # a pool smaller than the concurrent requests would open and close connections under load.
    gateway_env["CP_DATABASE_POOL_SIZE"] = str(GATEWAY_POOL_SIZE)
    gateway_env |= {f"CP_{s.upper()}_GRPC_ADDR": f"127.0.0.1:{ports.grpc(s)}" for s in DOMAIN_SERVICES}
    gateway_env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = service_keys["gateway"][0]
    specs.append(
        ProcessSpec(
            name="gateway-http",
            service="gateway",
            module="gateway_service.entrypoints.http_server",
            env=gateway_env,
            http_port=ports.gateway_http,
            metrics_port=ports.metrics("gateway"),
        )
    )
    specs.append(relays_spec(passwords, ports))
    for service, (module, _) in WORKERS.items():
        # A service's worker: long-running work driven by its own database (compute provisions
        # servers, network floating IPs).
        grpc_env = next(spec.env for spec in specs if spec.name == f"{service}-grpc")
        env = common_env(service, passwords[service], ports.worker_metrics(service))
        env |= {
            key: value
            for key, value in grpc_env.items()
            if key.startswith(("CP_HCLOUD_", "CP_IDENTITY_", "CP_COMPUTE_GRPC"))
        }
        if service == "network":
            # Network's worker meters floating IP hours at billing's prices.
            env["CP_BILLING_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('billing')}"
        if service == "storage":
            # Storage's worker drives upstream volumes through hcloud (locally, the simulator) and
            # prices volume hours from billing's volume plan.
            env["CP_HCLOUD_ENDPOINT"] = f"http://127.0.0.1:{HETZNER_SIM_PORT}/v1"
            env["CP_HCLOUD_TOKEN_FILE"] = hcloud_token_file(paths)
            env["CP_BILLING_GRPC_ADDR"] = f"127.0.0.1:{ports.grpc('billing')}"
        if "CP_PRINCIPAL_SERVICE_KEY_FILE" in grpc_env:
            env["CP_PRINCIPAL_SERVICE_KEY_FILE"] = grpc_env["CP_PRINCIPAL_SERVICE_KEY_FILE"]
        specs.append(
            ProcessSpec(
                name=f"{service}-worker",
                service=service,
                module=module,
                env=env,
                metrics_port=ports.worker_metrics(service),
            )
        )
    for service, (module, offset) in STREAM_PROCESSORS.items():
        # Reads the service's database (the rules), reads and writes Kafka.
        env = common_env(service, passwords[service], ports.metrics_base + offset)
        specs.append(
            ProcessSpec(
                name=f"{service}-alerts",
                service=service,
                module=module,
                env=env,
                metrics_port=ports.metrics_base + offset,
            )
        )
    specs.append(consumers_spec(paths, passwords, ports))
    return specs


CONSUMERS = "consumers"


def consumers_spec(paths: LocalPaths, passwords: dict[str, str], ports: Ports) -> ProcessSpec:
    """Every projection of :data:`PROJECTIONS` in ONE process locally (``consumer_main --all``):
    each with its own consumer group, engine on its service's database and ``consumer`` metrics
    label, a failing one restarted with backoff while the others go on. A process per consumer
    would cost ~110 MB each at rest; docker-compose and Kubernetes keep one per consumer."""
    metrics_port = ports.metrics_base + 200  # the consumers' and workers' range, 9300-9399
    env = {key: value for key, value in common_env(CONSUMERS, "", metrics_port).items() if key != "CP_DATABASE_URL"}
    env["CP_CONSUMERS"] = json.dumps(
        {
            service: {"projection": factory, "database_url": database_url(service, passwords[service])}
            for service, factory in PROJECTIONS.items()
        }
    )
    # The audit projection signs the log's rows with the audit service's key.
    env["CP_AUDIT_SIGNING_KEY_FILE"] = audit_signing_key_file(paths)
    return ProcessSpec(
        name=CONSUMERS,
        service=CONSUMERS,
        module="cpshared.events.consumer_main",
        args=("--all",),
        env=env,
        metrics_port=metrics_port,
    )


RELAYS = "relays"


def relays_spec(passwords: dict[str, str], ports: Ports) -> ProcessSpec:
    """Every service database has an outbox (events, dead-letter records, the gateway's request
    log), so every one has its relay: locally all of them in ONE process (``relay_main --all``,
    one relay loop per database with its own engine, named lock and ``relay`` metrics label),
    where a process per service would cost ~86 MB each at rest. docker-compose and Kubernetes
    keep a relay process per service, which scales with it."""
    metrics_port = ports.metrics_base + 100  # the relays' range, 9200-9299
    env = {key: value for key, value in common_env(RELAYS, "", metrics_port).items() if key != "CP_DATABASE_URL"}
    env["CP_RELAY_DATABASE_URLS"] = json.dumps({s: database_url(s, passwords[s]) for s in ALL_SERVICES})
    return ProcessSpec(
        name=RELAYS,
        service=RELAYS,
        module="cpshared.events.relay_main",
        args=("--all",),
        env=env,
        metrics_port=metrics_port,
    )


HETZNER_SIM_PORT = 8090
HETZNER_SIM_METRICS_PORT = 9110
HETZNER_SIM_TOKEN = "sim-token"  # noqa: S105 - the local simulator's development token


def upstream_specs() -> list[ProcessSpec]:
    """The stand-ins for upstream providers: the Hetzner Cloud simulator (tools/hetzner-sim).

    Not a service: no database, no Kafka, so it is kept apart from :func:`process_specs`.
    """
    env = {
        "CP_HETZNER_SIM_HOST": "127.0.0.1",
        "CP_HETZNER_SIM_PORT": str(HETZNER_SIM_PORT),
        "CP_HETZNER_SIM_TOKEN": os.environ.get("CP_HETZNER_SIM_TOKEN", HETZNER_SIM_TOKEN),
        "CP_METRICS_PORT": str(HETZNER_SIM_METRICS_PORT),
        "CP_LOG_LEVEL": os.environ.get("CP_LOG_LEVEL", "INFO"),
    }
    return [
        ProcessSpec(
            name="hetzner-sim",
            service="hetzner-sim",
            module="hetzner_sim",
            env=env,
            http_port=HETZNER_SIM_PORT,
            metrics_port=HETZNER_SIM_METRICS_PORT,
        )
    ]


def stack_specs(paths: LocalPaths, ports: Ports | None = None) -> list[ProcessSpec]:
    """Every process ``cloudctl up`` starts: the upstream simulators first, then the services."""
    return [*upstream_specs(), *process_specs(paths, ports)]


def gateway_url(ports: Ports | None = None) -> str:
    ports = ports or Ports.from_env()
    return f"http://127.0.0.1:{ports.gateway_http}"
