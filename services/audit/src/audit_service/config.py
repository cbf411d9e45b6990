"""Settings of the audit service, read from CP_* environment variables."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cpshared.settings import ENV_PREFIX, ServiceSettings


class AuditKeySettings(BaseSettings):
    """The key that makes the audit log tamper-evident: every row's hash and every digest is an
    HMAC with it. Whoever holds it can forge the log; keep it out of the database's reach."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    audit_signing_key_file: str = Field(
        min_length=1,
        description="File holding the audit log's HMAC key: at least 32 random bytes, base64-encoded.",
    )
    audit_retention_days: int = Field(default=400, ge=1, description="Audit entries older than this are pruned.")
    audit_digest_interval_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between signed digests of the chains' heads."
    )

    def signing_key(self) -> bytes:
        text = Path(self.audit_signing_key_file).read_text().strip()
        key = base64.b64decode(text, validate=True)
        if len(key) < 32:
            raise ValueError(f"{self.audit_signing_key_file} holds {len(key)} bytes: the audit key needs at least 32")
        return key


class Settings(ServiceSettings, AuditKeySettings):
    """Everything the audit service's processes read from the environment."""
