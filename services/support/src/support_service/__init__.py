"""The support service. Tickets, maintenance windows and notifications."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "support"

try:
    __version__ = version("cloudplatform-support")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
