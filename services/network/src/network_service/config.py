"""Settings of the network service, read from CP_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, ServiceSettings

SIMULATOR_ENDPOINT = "http://127.0.0.1:8090/v1"


class NetworkSettings(BaseSettings):
    """What every network process reads besides the common settings: upstream, identity, compute."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    hcloud_endpoint: str = Field(
        default=SIMULATOR_ENDPOINT,
        pattern=r"^https?://",
        description=(
            "Base URL of the upstream Hetzner Cloud API (with /v1). The default is the local Hetzner "
            "simulator (tools/hetzner-sim); the real one is https://api.hetzner.cloud/v1."
        ),
    )
    hcloud_token_file: str = Field(
        default="",
        description="File holding the upstream API token (keep it in a secret store). Empty: the worker cannot start.",
    )
    identity_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of identity's gRPC server: network reserves and releases floating IP quotas there. "
            "Empty: creating floating IPs answers UNAVAILABLE."
        ),
    )
    compute_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of compute's gRPC server: network reads servers (tenant, location) and the locations "
            "there. Empty: creating and assigning floating IPs answers UNAVAILABLE."
        ),
    )
    principal_service_key_file: str = Field(
        default="",
        description=(
            "PEM file of network's own Ed25519 private key: its calls to identity and compute carry network's "
            "service principal signed with it."
        ),
    )


class Settings(ServiceSettings, NetworkSettings):
    """The network gRPC server's settings."""

    create_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Seconds CreateFloatingIp waits for the worker to make the floating IP upstream before answering.",
    )


class WorkerSettings(CommonSettings, DatabaseSettings, NetworkSettings):
    """Network's worker's settings (no gRPC server, no Kafka: it writes to the outbox)."""

    worker_poll_interval: float = Field(
        default=0.2, gt=0, le=60, description="Seconds network's worker waits when no action is running."
    )
    worker_sweep_interval: float = Field(
        default=300.0, gt=0, description="Seconds between the worker's sweeps for stray upstream floating IPs."
    )
    upstream_retry_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts of an upstream call failing with 5xx, 429 or a timeout."
    )
    upstream_retry_initial_seconds: float = Field(
        default=0.5, gt=0, description="First backoff between upstream attempts (doubling, at most 20 s)."
    )
    billing_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of billing's gRPC server: metering prices floating IP hours with its pricing plans. "
            "Empty: the worker does not meter."
        ),
    )
    metering_interval: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds between the worker's metering passes (each records every floating IP hour ended).",
    )
