"""The identity service. Accounts, organizations, API keys, 2FA, quotas and system settings."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "identity"

try:
    __version__ = version("cloudplatform-identity")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
