"""The storage service. Volumes, snapshots and backups."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "storage"

try:
    __version__ = version("cloudplatform-storage")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
