"""Settings of the support service, read from CP_* environment variables."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from cpshared.mail import MailSettings
from cpshared.settings import ServiceSettings
from support_service.domain.attachments import AttachmentLimits
from support_service.domain.delivery import RetryPolicy
from support_service.domain.tickets import PRIORITIES, ServicePolicy
from support_service.service_layer.tickets import Rules

# Minutes from a ticket's opening, per priority.
FIRST_RESPONSE_MINUTES = {"low": 24 * 60, "normal": 8 * 60, "high": 2 * 60, "urgent": 30}
RESOLUTION_MINUTES = {"low": 10 * 24 * 60, "normal": 5 * 24 * 60, "high": 2 * 24 * 60, "urgent": 8 * 60}


class Settings(ServiceSettings, MailSettings):
    """Everything the support service's processes read from the environment."""

    attachments_dir: str = Field(
        default=".local/support/attachments",
        description="Directory of the local object store that keeps ticket attachments.",
    )
    attachment_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1,
        # An attachment is answered whole over gRPC: the gateway's channel takes at most 4 MiB.
        le=3 * 1024 * 1024,
        description="The largest attachment, in bytes.",
    )
    attachments_per_message: int = Field(default=3, ge=0, le=10)
    first_response_minutes: dict[str, int] = Field(
        default_factory=lambda: dict(FIRST_RESPONSE_MINUTES),
        description='First staff reply due, minutes after opening, per priority (JSON: {"urgent": 30, ...}).',
    )
    resolution_minutes: dict[str, int] = Field(
        default_factory=lambda: dict(RESOLUTION_MINUTES),
        description="Resolution due, minutes after opening, per priority (JSON).",
    )
    quiet_period_hours: float = Field(
        default=72, gt=0, description="A resolved ticket no one writes to closes itself after this long."
    )
    keeper_seconds: float = Field(
        default=60, gt=0, description="How often the keeper closes quiet tickets, records breaches, moves windows."
    )

    identity_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of identity's gRPC server: the mail sender asks it who a user is (address, name, "
            "locale, time zone). Empty: notifications are not mailed (their deliveries wait)."
        ),
    )
    compute_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of compute's gRPC server: support asks it whose a ticket's related resource is. "
            "Empty: a ticket naming a related resource is refused as unavailable."
        ),
    )
    principal_service_key_file: str = Field(
        default="",
        description="PEM file of support's own Ed25519 private key: its calls to identity carry support's principal.",
    )
    monitoring_grpc_addr: str = Field(
        default="",
        description=(
            "host:port of monitoring's gRPC server: the sender asks it for an alert rule's channels "
            "(addresses, webhook URLs). Empty: alert notices wait in their deliveries."
        ),
    )
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60, description="How long a webhook POST may take.")
    webhook_allow_internal_targets: bool = Field(
        default=False,
        description=(
            "Call webhook URLs whose host resolves to a loopback, private or link-local address "
            "(a local stack; never in production)."
        ),
    )
    mail_sender_seconds: float = Field(default=2, gt=0, description="How often the mail sender looks for due mail.")
    mail_max_attempts: int = Field(default=5, ge=1, le=50, description="Attempts before a mail is recorded failed.")
    mail_first_backoff_seconds: float = Field(
        default=30, gt=0, description="Wait after a mail's first failed attempt; doubled after each further one."
    )
    mail_max_backoff_seconds: float = Field(default=3600, gt=0, description="The longest wait between attempts.")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.mail_max_attempts,
            first_backoff=timedelta(seconds=self.mail_first_backoff_seconds),
            max_backoff=timedelta(seconds=self.mail_max_backoff_seconds),
        )

    @model_validator(mode="after")
    def _every_priority(self) -> Settings:
        for name in ("first_response_minutes", "resolution_minutes"):
            targets = getattr(self, name)
            if set(targets) != set(PRIORITIES) or any(minutes <= 0 for minutes in targets.values()):
                raise ValueError(f"{name} must give a positive number of minutes for each of {', '.join(PRIORITIES)}")
        return self

    def rules(self) -> Rules:
        return Rules(
            policy=ServicePolicy(
                first_response={p: timedelta(minutes=m) for p, m in self.first_response_minutes.items()},
                resolution={p: timedelta(minutes=m) for p, m in self.resolution_minutes.items()},
                quiet_period=timedelta(hours=self.quiet_period_hours),
            ),
            limits=AttachmentLimits(max_bytes=self.attachment_max_bytes, max_count=self.attachments_per_message),
        )


def default_rules() -> Rules:
    """The rules of the defaults above (tests and tools without an environment)."""
    return Rules(
        policy=ServicePolicy(
            first_response={p: timedelta(minutes=m) for p, m in FIRST_RESPONSE_MINUTES.items()},
            resolution={p: timedelta(minutes=m) for p, m in RESOLUTION_MINUTES.items()},
            quiet_period=timedelta(hours=72),
        ),
        limits=AttachmentLimits(max_bytes=2 * 1024 * 1024, max_count=3),
    )
