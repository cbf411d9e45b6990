"""Settings of the audit service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the audit service's processes read from the environment."""
