"""Settings of the identity service, read from CP_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.mail import MailSettings
from cpshared.settings import ENV_PREFIX, ServiceSettings


class RetentionSettings(BaseSettings):
    """How long identity keeps the sign-in history."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    login_activity_retention_days: int = Field(
        default=90, ge=1, le=3660, description="Days of sign-in attempts (login_activity) kept; older ones are deleted."
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="Seconds between two runs of the retention keeper."
    )
    trial_check_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Seconds between two looks for organization trials that are due to end.",
    )


class Settings(ServiceSettings, MailSettings, RetentionSettings):
    """Everything the identity service's processes read from the environment."""

    credential_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads hashing and checking passwords (argon2id, 64 MiB each): about one per CPU core.",
    )
    credential_waiting: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Credential checks that may wait for a thread; the next is refused at once (429 at the gateway).",
    )

    principal_signing_key_file: str = Field(
        default="",
        description=(
            "PEM file of the Ed25519 private key identity signs principal assertions with (only identity "
            "holds it). Empty: IssuePrincipal answers UNAVAILABLE."
        ),
    )
    data_encryption_key_file: str = Field(
        default="",
        description=(
            "File holding the 32-byte AES-256 key (base64) that encrypts TOTP secrets at rest; keep it "
            "in a secret store and never change it without re-encrypting. Empty: the two-factor RPCs "
            "answer UNAVAILABLE."
        ),
    )
