"""Settings of the identity service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the identity service's processes read from the environment."""
