"""The fixed catalog: locations, datacenters, server types, system images, ISOs and prices.

Figures follow Hetzner's public price list (EUR, net, 19 % VAT for gross); ids are stable so
tests and fixtures may name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

VAT_RATE = Decimal("19")
CREATED = "2024-01-01T00:00:00+00:00"
TB = 1024**4


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    description: str
    country: str
    city: str
    latitude: float
    longitude: float
    network_zone: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "country": self.country,
            "city": self.city,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "network_zone": self.network_zone,
        }


@dataclass(frozen=True)
class Datacenter:
    id: int
    name: str
    description: str
    location: Location


@dataclass(frozen=True)
class ServerType:
    id: int
    name: str
    description: str
    cores: int
    memory: float
    disk: int
    cpu_type: str
    architecture: str
    category: str
    monthly_eur: Decimal
    locations: tuple[str, ...]
    storage_type: str = "local"


@dataclass(frozen=True)
class Image:
    id: int
    name: str
    description: str
    os_flavor: str
    os_version: str
    architecture: str
    disk_size: float = 5


@dataclass(frozen=True)
class Iso:
    id: int
    name: str
    description: str
    architecture: str | None


LOCATIONS = (
    Location(1, "fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", 50.47612, 12.370071, "eu-central"),
    Location(2, "nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", 49.452102, 11.076665, "eu-central"),
    Location(3, "hel1", "Helsinki DC Park 1", "FI", "Helsinki", 60.169855, 24.938379, "eu-central"),
    Location(4, "ash", "Ashburn, VA", "US", "Ashburn, VA", 39.045821, -77.487073, "us-east"),
    Location(5, "hil", "Hillsboro, OR", "US", "Hillsboro, OR", 45.54222, -122.951384, "us-west"),
)
_LOCATION = {location.name: location for location in LOCATIONS}

DATACENTERS = (
    Datacenter(4, "fsn1-dc14", "Falkenstein 1 virtual DC 14", _LOCATION["fsn1"]),
    Datacenter(2, "nbg1-dc3", "Nuremberg 1 virtual DC 3", _LOCATION["nbg1"]),
    Datacenter(3, "hel1-dc2", "Helsinki 1 virtual DC 2", _LOCATION["hel1"]),
    Datacenter(5, "ash-dc1", "Ashburn virtual DC 1", _LOCATION["ash"]),
    Datacenter(6, "hil-dc1", "Hillsboro virtual DC 1", _LOCATION["hil"]),
)

EU = ("fsn1", "nbg1", "hel1")
EVERYWHERE = (*EU, "ash", "hil")

SERVER_TYPES = (
    ServerType(104, "cx22", "CX22", 2, 4, 40, "shared", "x86", "cost_optimized", Decimal("3.79"), EU),
    ServerType(105, "cx32", "CX32", 4, 8, 80, "shared", "x86", "cost_optimized", Decimal("6.80"), EU),
    ServerType(106, "cx42", "CX42", 8, 16, 160, "shared", "x86", "cost_optimized", Decimal("16.40"), EU),
    ServerType(107, "cx52", "CX52", 16, 32, 320, "shared", "x86", "cost_optimized", Decimal("32.40"), EU),
    ServerType(22, "cpx11", "CPX 11", 2, 2, 40, "shared", "x86", "regular_purpose", Decimal("4.35"), EVERYWHERE),
    ServerType(23, "cpx21", "CPX 21", 3, 4, 80, "shared", "x86", "regular_purpose", Decimal("7.55"), EVERYWHERE),
    ServerType(24, "cpx31", "CPX 31", 4, 8, 160, "shared", "x86", "regular_purpose", Decimal("13.60"), EVERYWHERE),
    ServerType(25, "cpx41", "CPX 41", 8, 16, 240, "shared", "x86", "regular_purpose", Decimal("25.20"), EVERYWHERE),
    ServerType(45, "cax11", "CAX11", 2, 4, 40, "shared", "arm", "cost_optimized", Decimal("3.79"), EU),
    ServerType(93, "cax21", "CAX21", 4, 8, 80, "shared", "arm", "cost_optimized", Decimal("6.49"), EU),
    ServerType(96, "ccx13", "CCX13", 2, 8, 80, "dedicated", "x86", "general_purpose", Decimal("12.49"), EVERYWHERE),
    ServerType(97, "ccx23", "CCX23", 4, 16, 160, "dedicated", "x86", "general_purpose", Decimal("24.49"), EVERYWHERE),
)

_IMAGE_BASES = (
    ("ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "24.04"),
    ("ubuntu-22.04", "Ubuntu 22.04", "ubuntu", "22.04"),
    ("debian-12", "Debian 12", "debian", "12"),
    ("debian-11", "Debian 11", "debian", "11"),
    ("fedora-41", "Fedora 41", "fedora", "41"),
    ("rocky-9", "Rocky Linux 9", "rocky", "9"),
    ("alma-9", "AlmaLinux 9", "alma", "9"),
    ("centos-stream-9", "CentOS Stream 9", "centos", "stream-9"),
)
# One image per name and architecture, like Hetzner's (an arm server gets the arm build).
SYSTEM_IMAGES = tuple(
    Image(1000 + 2 * i + (arch == "arm"), name, description, flavor, version, arch)
    for i, (name, description, flavor, version) in enumerate(_IMAGE_BASES)
    for arch in ("x86", "arm")
)

ISOS = (
    Iso(2001, "virtio-win-0.1.248.iso", "virtio 0.1.248", None),
    Iso(2002, "FreeBSD-14.1-RELEASE-amd64-dvd1", "FreeBSD 14.1 x86", "x86"),
    Iso(2003, "FreeBSD-14.1-RELEASE-arm64-dvd1", "FreeBSD 14.1 arm", "arm"),
)


@dataclass(frozen=True)
class LoadBalancerType:
    id: int
    name: str
    description: str
    max_connections: int
    max_services: int
    max_targets: int
    max_assigned_certificates: int
    monthly_eur: Decimal


LOAD_BALANCER_TYPES = (
    LoadBalancerType(1, "lb11", "LB11", 10_000, 5, 25, 10, Decimal("5.39")),
    LoadBalancerType(2, "lb21", "LB21", 20_000, 15, 75, 25, Decimal("16.40")),
    LoadBalancerType(3, "lb31", "LB31", 40_000, 30, 150, 50, Decimal("32.90")),
)


def load_balancer_type(name_or_id: str | int) -> LoadBalancerType | None:
    return next((lt for lt in LOAD_BALANCER_TYPES if str(name_or_id) in (lt.name, str(lt.id))), None)


def load_balancer_type_prices(lt: LoadBalancerType) -> list[dict[str, Any]]:
    prices = []
    for loc in LOCATIONS:
        monthly = (lt.monthly_eur * _location_factor(loc.name)).quantize(Decimal("0.01"))
        prices.append(
            {
                "location": loc.name,
                "price_hourly": _money((monthly / 672).quantize(Decimal("0.0001"))),
                "price_monthly": _money(monthly),
                "included_traffic": 20 * TB if loc.name in EU else 1 * TB,
                "price_per_tb_traffic": _money(Decimal("1.00")),
            }
        )
    return prices


def load_balancer_type_json(lt: LoadBalancerType) -> dict[str, Any]:
    return {
        "id": lt.id,
        "name": lt.name,
        "description": lt.description,
        "max_connections": lt.max_connections,
        "max_services": lt.max_services,
        "max_targets": lt.max_targets,
        "max_assigned_certificates": lt.max_assigned_certificates,
        "deprecated": None,
        "prices": load_balancer_type_prices(lt),
    }


def location(name_or_id: str | int) -> Location | None:
    return next((loc for loc in LOCATIONS if str(name_or_id) in (loc.name, str(loc.id))), None)


def datacenter(name_or_id: str | int) -> Datacenter | None:
    return next((dc for dc in DATACENTERS if str(name_or_id) in (dc.name, str(dc.id))), None)


def datacenter_of(loc: Location) -> Datacenter:
    return next(dc for dc in DATACENTERS if dc.location == loc)


def server_type(name_or_id: str | int) -> ServerType | None:
    return next((st for st in SERVER_TYPES if str(name_or_id) in (st.name, str(st.id))), None)


def iso(name_or_id: str | int) -> Iso | None:
    return next((i for i in ISOS if str(name_or_id) in (i.name, str(i.id))), None)


def _money(net: Decimal) -> dict[str, str]:
    gross = net * (1 + VAT_RATE / 100)
    return {"net": f"{net:.10f}", "gross": f"{gross:.10f}"}


def _location_factor(location_name: str) -> Decimal:
    return Decimal("1.0") if location_name in EU else Decimal("1.2")


def server_type_prices(st: ServerType) -> list[dict[str, Any]]:
    prices = []
    for name in st.locations:
        monthly = (st.monthly_eur * _location_factor(name)).quantize(Decimal("0.01"))
        hourly = (monthly / 672).quantize(Decimal("0.0001"))
        prices.append(
            {
                "location": name,
                "price_hourly": _money(hourly),
                "price_monthly": _money(monthly),
                "included_traffic": 20 * TB if name in EU else 1 * TB,
                "price_per_tb_traffic": _money(Decimal("1.00")),
            }
        )
    return prices


def server_type_json(st: ServerType) -> dict[str, Any]:
    return {
        "id": st.id,
        "name": st.name,
        "description": st.description,
        "category": st.category,
        "cores": st.cores,
        "memory": st.memory,
        "disk": st.disk,
        "deprecated": False,
        "deprecation": None,
        "prices": server_type_prices(st),
        "storage_type": st.storage_type,
        "cpu_type": st.cpu_type,
        "architecture": st.architecture,
        "locations": [
            # available/recommended: newer than the spec, and the hcloud client (2.27) needs them.
            {
                "id": loc.id,
                "name": loc.name,
                "deprecation": None,
                "available": True,
                "recommended": loc.name == st.locations[0],
            }
            for loc in LOCATIONS
            if loc.name in st.locations
        ],
    }


def datacenter_json(dc: Datacenter) -> dict[str, Any]:
    available = [st.id for st in SERVER_TYPES if dc.location.name in st.locations]
    return {
        "id": dc.id,
        "name": dc.name,
        "description": dc.description,
        "location": dc.location.as_json(),
        "server_types": {"supported": available, "available": available, "available_for_migration": available},
    }


def iso_json(i: Iso) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "description": i.description,
        "type": "public",
        "architecture": i.architecture,
        "deprecation": None,
    }


def pricing_json() -> dict[str, Any]:
    per_location_ip = [
        {"location": loc.name, "price_hourly": _money(Decimal("0.0008")), "price_monthly": _money(Decimal("0.50"))}
        for loc in LOCATIONS
    ]
    return {
        "pricing": {
            "currency": "EUR",
            "vat_rate": f"{VAT_RATE:.6f}",
            "image": {"price_per_gb_month": _money(Decimal("0.0110"))},
            "floating_ip": {"price_monthly": _money(Decimal("3.00"))},
            "floating_ips": [
                {
                    "type": kind,
                    "prices": [{"location": loc.name, "price_monthly": _money(Decimal("3.00"))} for loc in LOCATIONS],
                }
                for kind in ("ipv4", "ipv6")
            ],
            "primary_ips": [{"type": "ipv4", "prices": per_location_ip}, {"type": "ipv6", "prices": []}],
            "server_backup": {"percentage": "20.0000000000"},
            "volume": {"price_per_gb_month": _money(Decimal("0.0440"))},
            "load_balancer_types": [
                {"id": lt.id, "name": lt.name, "prices": load_balancer_type_prices(lt)} for lt in LOAD_BALANCER_TYPES
            ],
            "server_types": [{"id": st.id, "name": st.name, "prices": server_type_prices(st)} for st in SERVER_TYPES],
        }
    }
