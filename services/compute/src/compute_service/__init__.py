"""The compute service. Datacenters, server types, images, servers and their lifecycle, SSH keys."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "compute"

try:
    __version__ = version("cloudplatform-compute")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
