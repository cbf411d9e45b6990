"""Settings of the identity service, read from CP_* environment variables."""

from pydantic import Field

from cpshared.mail import MailSettings
from cpshared.settings import ServiceSettings


class Settings(ServiceSettings, MailSettings):
    """Everything the identity service's processes read from the environment."""

    principal_signing_key_file: str = Field(
        default="",
        description=(
            "PEM file of the Ed25519 private key identity signs principal assertions with (only identity "
            "holds it). Empty: IssuePrincipal answers UNAVAILABLE."
        ),
    )
