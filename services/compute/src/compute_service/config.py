"""Settings of the compute service, read from CP_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, ServiceSettings

SIMULATOR_ENDPOINT = "http://127.0.0.1:8090/v1"


class ComputeSettings(BaseSettings):
    """What every compute process reads besides the common settings: upstream, identity, the worker."""

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
        description=(
            "File holding the upstream API token (keep it in a secret store). Empty: the catalog "
            "sync answers UNAVAILABLE and the catalog keeps what it has."
        ),
    )
    identity_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of identity's gRPC server: compute reserves and releases server quotas there. "
            "Empty: creating and deleting servers answers UNAVAILABLE."
        ),
    )
    principal_service_key_file: str = Field(
        default="",
        description=(
            "PEM file of compute's own Ed25519 private key: its calls to identity carry compute's service "
            "principal signed with it (identity lets only services reserve quotas)."
        ),
    )


class Settings(ServiceSettings, ComputeSettings):
    """The compute gRPC server's settings."""

    billing_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of billing's gRPC server: compute asks its backup pricing plan what backups cost "
            "when a customer enables them. Empty: enabling backups answers UNAVAILABLE."
        ),
    )

    catalog_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds before a failed catalog sync is tried again (doubling, up to the refresh period).",
    )
    catalog_refresh_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="Seconds between two syncs of the catalog from upstream."
    )


class WorkerSettings(CommonSettings, DatabaseSettings, ComputeSettings):
    """The provisioning worker's settings (no gRPC server, no Kafka: it writes to the outbox)."""

    worker_poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds the provisioning worker waits when no action is running."
    )
    worker_sweep_interval: float = Field(
        default=60.0, gt=0, description="Seconds between the worker's sweeps for stray upstream servers."
    )
    metering_interval: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds between the worker's metering passes (each records every server hour that has ended).",
    )
    upstream_retry_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts of an upstream call failing with 5xx, 429 or a timeout."
    )
    upstream_retry_initial_seconds: float = Field(
        default=0.5, gt=0, description="First backoff between upstream attempts (doubling, at most 20 s)."
    )
