"""Settings of billing's schedule (the keeper thread of the gRPC server), CP_BILLING_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX


class ScheduleSettings(BaseSettings):
    """When billing invoices and chases on its own (CP_BILLING_* variables)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    billing_cycle_day: int = Field(
        default=1,
        ge=1,
        le=31,
        description="Day of the month the previous month is invoiced, until identity's billing_cycle_day setting "
        "changes (billing then follows it).",
    )
    billing_suspension_grace_days: int = Field(
        default=14, ge=0, le=365, description="Days an invoice may stay overdue before a suspension is requested."
    )
    billing_keeper_interval_seconds: float = Field(
        default=300, gt=0, description="Seconds between the keeper's rounds."
    )
    billing_keeper_enabled: bool = Field(default=True, description="Run the schedule in the gRPC server process.")
