"""Settings of the monitoring service, read from CP_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX, CommonSettings, DatabaseSettings, KafkaSettings, ServiceSettings

SIMULATOR_ENDPOINT = "http://127.0.0.1:8090/v1"


class RetentionSettings(BaseSettings):
    """How long stored metrics are kept, and how the keeper keeps it so."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    metrics_retention_days: int = Field(
        default=30, ge=1, le=366, description="Days of server metrics kept (older day partitions are dropped)."
    )
    metrics_partitions_ahead_days: int = Field(
        default=7, ge=1, le=60, description="Days ahead for which server_metrics has its day partitions made."
    )
    alert_history_retention_days: int = Field(
        default=60, ge=1, le=3660, description="Days a resolved alert is kept in alert_history (after it resolved)."
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="Seconds between two runs of the retention keeper."
    )


class UpstreamSettings(BaseSettings):
    """Where upstream's metrics are read (the collector)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    hcloud_endpoint: str = Field(
        default=SIMULATOR_ENDPOINT,
        pattern=r"^https?://",
        description="Base URL of the upstream Hetzner Cloud API (with /v1); the default is the local simulator.",
    )
    hcloud_token_file: str = Field(
        default="", description="File holding the upstream API token. Empty: the collector cannot start."
    )


class TrafficSettings(BaseSettings):
    """The traffic meter (a loop of the collector): when an hour is closed, how late a sample still counts."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    traffic_meter_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="Seconds between two traffic meter passes (also the window of each server's usage summary).",
    )
    traffic_close_after_seconds: int = Field(
        default=600,
        ge=0,
        le=86400,
        description="Seconds after an hour's end before its traffic is recorded for billing (samples' delivery delay).",
    )
    traffic_late_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        description="Closed hours every pass re-sums: a sample stored later than this after its hour is not billed.",
    )


class UptimeSettings(BaseSettings):
    """Where uptime monitors may be checked from."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    uptime_regions: str = Field(
        default="local",
        pattern=r"^[a-z0-9-]{1,32}(,[a-z0-9-]{1,32})*$",
        description="The checker locations a monitor may name (comma-separated); one, 'local', on one machine.",
    )

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.uptime_regions.split(","))


class UptimeCheckerSettings(UptimeSettings):
    """The uptime checker: its location, and how a check decides down."""

    uptime_region: str = Field(
        default="local", pattern=r"^[a-z0-9-]{1,32}$", description="The location this process's checker runs in."
    )
    uptime_failures_to_down: int = Field(
        default=3, ge=1, le=20, description="Failed checks in a row that make a monitor down."
    )
    uptime_pass_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Seconds between two looks for due uptime checks."
    )
    uptime_ca_file: str = Field(
        default="", description="CA bundle trusted for https checks instead of the system's (empty: the system's)."
    )


class Settings(ServiceSettings, RetentionSettings, UptimeSettings):
    """The monitoring gRPC server's settings (it runs the retention keeper)."""


class CollectorSettings(CommonSettings, DatabaseSettings, UpstreamSettings, TrafficSettings, UptimeCheckerSettings):
    """The worker's settings: the collector, the traffic meter and the uptime checker (no gRPC
    server, no Kafka: they write to the outbox)."""

    collect_interval_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds between two collection passes."
    )


class CliSettings(DatabaseSettings, RetentionSettings):
    """The operator commands' settings: the database and the retention."""


class AlertProcessorSettings(CommonSettings, DatabaseSettings, KafkaSettings):
    """The alert processor's settings (a faust-streaming worker: Kafka in and out, rules read
    from monitoring's database)."""

    rules_refresh_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds between two reads of the enabled alert rules."
    )
