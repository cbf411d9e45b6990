"""Settings of the monitoring service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the monitoring service's processes read from the environment."""
