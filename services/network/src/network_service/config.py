"""Settings of the network service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the network service's processes read from the environment."""
