"""Settings of the storage service, read from CP_* environment variables."""

from cpshared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the storage service's processes read from the environment."""
