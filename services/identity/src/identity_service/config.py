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
    data_encryption_key_file: str = Field(
        default="",
        description=(
            "File holding the 32-byte AES-256 key (base64) that encrypts TOTP secrets at rest; keep it "
            "in a secret store and never change it without re-encrypting. Empty: the two-factor RPCs "
            "answer UNAVAILABLE."
        ),
    )
