"""The network service. Floating IPs, networks, firewalls and load balancers."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "network"

try:
    __version__ = version("cloudplatform-network")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
