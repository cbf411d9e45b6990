"""Upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client: what it lists
of server types and system images, turned into the domain's plain records.

Prices arrive as decimal strings and are read as Decimal, never through float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hcloud import Client
from hcloud.deprecation import DeprecationInfo

from compute_service.domain.catalog import UpstreamImage, UpstreamIso, UpstreamServerType
from compute_service.domain.load_balancer_types import UpstreamLoadBalancerType
from compute_service.service_layer.ports import CatalogSource
from cpshared.upstream import read_token as read_token  # the bootstrap reads the token through it

APPLICATION = "cloudplatform-compute"
GB = 1  # hcloud reports image sizes in GB already


def _money(entry: dict[str, Any], field: str) -> Decimal:
    return Decimal(str(entry[field]["gross"]))


class HcloudCatalog(CatalogSource):
    """The catalog as the upstream API lists it."""

    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0) -> None:
        self.client = Client(token=token, api_endpoint=endpoint, application_name=APPLICATION, timeout=timeout)

    @classmethod
    def from_settings(cls, endpoint: str, token_file: str) -> HcloudCatalog:
        return cls(endpoint, read_token(token_file))

    def server_types(self) -> list[UpstreamServerType]:
        found = []
        for st in self.client.server_types.get_all():
            prices = st.prices or []
            locations = [loc.location.name for loc in (st.locations or []) if loc.location.name]
            found.append(
                UpstreamServerType(
                    hetzner_id=int(st.id or 0),
                    code=str(st.name),
                    name=str(st.description or st.name),
                    cpu_type=str(st.cpu_type or "shared"),
                    cores=int(st.cores or 0),
                    memory_gb=Decimal(str(st.memory or 0)),
                    disk_gb=int(st.disk or 0),
                    storage_type=str(st.storage_type or "local"),
                    architecture=str(st.architecture or "x86"),
                    # Deprecated only when every location deprecates it (hcloud: per-location deprecation).
                    deprecated=bool(st.locations) and all(loc.deprecation is not None for loc in st.locations or []),
                    locations=tuple(locations or (str(p["location"]) for p in prices)),
                    gross_hourly={str(p["location"]): _money(p, "price_hourly") for p in prices},
                    gross_monthly={str(p["location"]): _money(p, "price_monthly") for p in prices},
                )
            )
        return found

    def system_images(self) -> list[UpstreamImage]:
        found = []
        for image in self.client.images.get_all(type=["system"]):
            deprecated = image.deprecation.announced if image.deprecation is not None else None
            size = image.image_size
            found.append(
                UpstreamImage(
                    hetzner_id=int(image.id or 0),
                    name=str(image.name),
                    description=str(image.description or ""),
                    os_flavor=str(image.os_flavor or ""),
                    os_version=str(image.os_version or ""),
                    architecture=str(image.architecture or "x86"),
                    disk_size_gb=int(image.disk_size or 10),
                    image_size_gb=Decimal(str(size)).quantize(Decimal("0.01")) if size is not None else None,
                    rapid_deploy=bool(image.rapid_deploy),
                    deprecated_at=deprecated,
                )
            )
        return found

    def load_balancer_types(self) -> list[UpstreamLoadBalancerType]:
        found = []
        for lt in self.client.load_balancer_types.get_all():
            prices = lt.prices or []
            deprecation = lt.deprecation
            found.append(
                UpstreamLoadBalancerType(
                    hetzner_id=int(lt.id or 0),
                    code=str(lt.name),
                    description=str(lt.description or lt.name),
                    max_connections=int(lt.max_connections or 0),
                    max_services=int(lt.max_services or 0),
                    max_targets=int(lt.max_targets or 0),
                    max_assigned_certificates=int(lt.max_assigned_certificates or 0),
                    deprecated_at=deprecation.announced if isinstance(deprecation, DeprecationInfo) else None,
                    gross_hourly={str(p["location"]): _money(p, "price_hourly") for p in prices},
                    gross_monthly={str(p["location"]): _money(p, "price_monthly") for p in prices},
                )
            )
        return found

    def isos(self) -> list[UpstreamIso]:
        """Upstream's PUBLIC ISOs: a private one would be the platform's own upstream project's,
        no tenant's."""
        found = []
        for iso in self.client.isos.get_all():
            if iso.type != "public":
                continue
            deprecation = iso.deprecation
            found.append(
                UpstreamIso(
                    hetzner_id=int(iso.id or 0),
                    name=str(iso.name or ""),
                    description=str(iso.description or ""),
                    type="public",
                    architecture=str(iso.architecture) if iso.architecture else None,
                    deprecation_announced=deprecation.announced if deprecation is not None else None,
                    unavailable_after=deprecation.unavailable_after if deprecation is not None else None,
                )
            )
        return sorted(found, key=lambda i: i.hetzner_id)
