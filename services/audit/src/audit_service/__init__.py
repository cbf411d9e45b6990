"""The audit service. The tamper-evident audit log, built from every stream."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "audit"

try:
    __version__ = version("cloudplatform-audit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
