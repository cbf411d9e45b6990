"""Settings of the compute service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the compute service's processes read from the environment."""
