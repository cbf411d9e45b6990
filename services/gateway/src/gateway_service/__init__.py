"""The public API gateway: the only public door of the platform."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "gateway"

try:
    __version__ = version("cloudplatform-gateway")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
