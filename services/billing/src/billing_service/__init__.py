"""The billing service. Usage, pricing, invoices, payment methods and credits, built from the event streams."""

from importlib.metadata import PackageNotFoundError, version

SERVICE_NAME = "billing"

try:
    __version__ = version("cloudplatform-billing")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
