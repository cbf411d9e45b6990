"""The monitoring service. Server metrics, alert rules and alerts, uptime monitors."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "monitoring"

try:
    __version__ = version("cloudplatform-monitoring")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
