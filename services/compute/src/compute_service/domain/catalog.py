"""The compute catalog: datacenters, server types with the platform's own prices, images.

Plain Python: what upstream says of a server type or image (:class:`UpstreamServerType`,
:class:`UpstreamImage`) and what the platform keeps of it. Money is Decimal, quantized to the
columns' scale (hourly to 6 places, monthly to 2); a price is never read from a float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cpshared.errors import InvalidInput

HOURLY = Decimal("0.000001")
MONTHLY = Decimal("0.01")
MAX_PRICE = Decimal("9999")  # DECIMAL(10,6) / DECIMAL(10,2) hold less than 10 000


def hourly(value: Decimal) -> Decimal:
    return value.quantize(HOURLY, rounding=ROUND_HALF_UP)


def monthly(value: Decimal) -> Decimal:
    return value.quantize(MONTHLY, rounding=ROUND_HALF_UP)


def parse_price(name: str, text: str, places: int) -> Decimal:
    """A price given as a decimal string: positive, below 10 000, with at most ``places`` decimals."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(f"{name} must be a decimal number such as 4.51, got {text!r}") from None
    if not value.is_finite() or value <= 0 or value > MAX_PRICE:
        raise InvalidInput(f"{name} must be more than 0 and at most {MAX_PRICE}, got {text!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise InvalidInput(f"{name} has at most {places} decimal places, got {text!r}")
    return value


@dataclass(frozen=True)
class Datacenter:
    id: int
    code: str
    name: str
    city: str
    country: str
    continent: str
    latitude: Decimal | None
    longitude: Decimal | None
    status: str
    network_zones: tuple[str, ...]


@dataclass(frozen=True)
class UpstreamServerType:
    """A server type as upstream (Hetzner) lists it; prices are upstream's gross, per location."""

    hetzner_id: int
    code: str
    name: str
    cpu_type: str
    cores: int
    memory_gb: Decimal
    disk_gb: int
    storage_type: str
    architecture: str
    deprecated: bool
    locations: tuple[str, ...]
    gross_hourly: dict[str, Decimal] = field(hash=False)
    gross_monthly: dict[str, Decimal] = field(hash=False)


@dataclass
class ServerType:
    id: int
    code: str
    name: str
    category: str
    cpu_type: str
    cpu_cores: int
    memory_gb: Decimal
    disk_gb: int
    disk_type: str
    network_speed_gbps: Decimal
    price_hourly: Decimal
    price_monthly: Decimal
    available: bool
    supported_datacenters: list[str]
    upstream_datacenters: list[str]
    architecture: str
    hetzner_id: int
    version: int
    created_at: datetime | None = None


def category_of(upstream: UpstreamServerType) -> str:
    """The seed's category: dedicated vCPUs are "dedicated", everything else "standard"."""
    return "dedicated" if upstream.cpu_type == "dedicated" else "standard"


def disk_type_of(upstream: UpstreamServerType) -> str:
    """Upstream's local storage is NVMe SSD; network (Ceph) storage counts as plain SSD."""
    return "nvme" if upstream.storage_type == "local" else "ssd"


def initial_prices(upstream: UpstreamServerType, datacenter_codes: list[str]) -> tuple[Decimal, Decimal]:
    """Upstream's gross price at the first of the platform's datacenters that offers the type
    (the seed's order: Falkenstein first); at upstream's first location when none does."""
    offered = [code for code in datacenter_codes if code in upstream.gross_hourly]
    location = offered[0] if offered else next(iter(upstream.gross_hourly), None)
    if location is None:
        raise ValueError(f"upstream lists no price for server type {upstream.code}")
    return hourly(upstream.gross_hourly[location]), monthly(upstream.gross_monthly[location])


def upstream_figures_differ(current: ServerType, upstream: UpstreamServerType, datacenters: list[str]) -> bool:
    return (
        current.name != upstream.name
        or current.cpu_type != upstream.cpu_type
        or current.cpu_cores != upstream.cores
        or current.memory_gb != upstream.memory_gb
        or current.disk_gb != upstream.disk_gb
        or current.architecture != upstream.architecture
        or current.hetzner_id != upstream.hetzner_id
        or current.upstream_datacenters != datacenters
    )


@dataclass(frozen=True)
class UpstreamImage:
    hetzner_id: int
    name: str
    description: str
    os_flavor: str
    os_version: str
    architecture: str
    disk_size_gb: int
    image_size_gb: Decimal | None
    rapid_deploy: bool
    deprecated_at: datetime | None


@dataclass(frozen=True)
class UpstreamIso:
    """An ISO upstream offers (served as upstream lists it; the platform adds nothing to it)."""

    hetzner_id: int
    name: str
    description: str
    type: str
    architecture: str | None
    deprecation_announced: datetime | None = None
    unavailable_after: datetime | None = None


@dataclass
class Image:
    id: int
    hetzner_id: int | None
    name: str
    description: str
    type: str
    os_flavor: str
    os_version: str
    architecture: str
    size_gb: Decimal | None
    min_disk_size: int
    status: str
    public: bool
    user_id: int | None
    rapid_deploy: bool
    created_at: datetime | None
    deprecated_at: datetime | None


@dataclass(frozen=True)
class SyncReport:
    server_types_created: int = 0
    server_types_updated: int = 0
    images_created: int = 0
    images_updated: int = 0
