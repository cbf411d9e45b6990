"""Settings of the compute service, read from CP_* environment variables."""

from pydantic import Field

from cpshared.settings import ServiceSettings

SIMULATOR_ENDPOINT = "http://127.0.0.1:8090/v1"


class Settings(ServiceSettings):
    """Everything the compute service's processes read from the environment."""

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
