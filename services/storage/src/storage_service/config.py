"""Settings of the storage service, read from CP_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, ServiceSettings

SIMULATOR_ENDPOINT = "http://127.0.0.1:8090/v1"


class StorageSettings(BaseSettings):
    """What every storage process reads besides the common settings: identity, compute."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    identity_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of identity's gRPC server: storage reserves and releases volume quotas there. "
            "Empty: creating, resizing and deleting volumes answers UNAVAILABLE."
        ),
    )
    compute_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of compute's gRPC server: storage asks it for servers (whose, where) and datacenters. "
            "Empty: creating and attaching volumes answers UNAVAILABLE."
        ),
    )
    principal_service_key_file: str = Field(
        default="",
        description=(
            "PEM file of storage's own Ed25519 private key: its calls to identity and compute carry storage's "
            "service principal signed with it."
        ),
    )


class Settings(ServiceSettings, StorageSettings):
    """The storage gRPC server's settings."""


class WorkerSettings(CommonSettings, DatabaseSettings, StorageSettings):
    """The storage worker's settings (no gRPC server, no Kafka: it writes to the outbox); it alone
    calls upstream."""

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

    worker_poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds the storage worker waits when no action is running."
    )
    worker_sweep_interval: float = Field(
        default=60.0, gt=0, description="Seconds between the worker's sweeps for stray upstream volumes."
    )
    billing_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of billing's gRPC server: the worker prices volumes' hours from its volume plan. "
            "Empty: volumes are not metered (the worker logs it at every metering pass)."
        ),
    )
    metering_interval: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds between the worker's metering passes (each records every volume hour that has ended).",
    )
    backup_mirror_interval: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description=(
            "Seconds between the worker's passes over servers' backups (it records the backup images "
            "upstream made, expires the ones it removed, deletes the ones customers deleted)."
        ),
    )
    upstream_retry_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts of an upstream call failing with 5xx, 429 or a timeout."
    )
    upstream_retry_initial_seconds: float = Field(
        default=0.5, gt=0, description="First backoff between upstream attempts (doubling, at most 20 s)."
    )
