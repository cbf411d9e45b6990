"""Settings of the billing service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the billing service's processes read from the environment."""
