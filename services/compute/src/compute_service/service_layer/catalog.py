"""Catalog use cases: read it, sync it from upstream, set the platform's prices and availability.

The sync upserts server types by upstream name and system images by upstream name and
architecture. It never touches what the platform decides itself: prices (a new type starts at
upstream's gross price) and where a type is offered (a new type is offered wherever upstream
offers it in the platform's datacenters; later only an admin changes that, and a datacenter
upstream stops offering is dropped).
"""

from __future__ import annotations

from google.protobuf.message import Message

from cloudplatform.compute.v1 import events_pb2
from compute_service import SERVICE_NAME
from compute_service.domain import catalog
from compute_service.domain.catalog import Datacenter, Image, ServerType, SyncReport
from compute_service.domain.load_balancer_types import LoadBalancerType
from compute_service.service_layer.ports import CatalogSource
from compute_service.service_layer.unit_of_work import ComputeUnitOfWork
from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed, Unavailable
from cpshared.events import catalog as events
from cpshared.events.envelope import PendingEvent, new_event
from cpshared.events.registry import EventSpec
from cpshared.logging import get_logger

log = get_logger(__name__)


def list_datacenters(uow: ComputeUnitOfWork) -> list[Datacenter]:
    with uow:
        return uow.catalog.datacenters()


def list_server_types(uow: ComputeUnitOfWork) -> list[ServerType]:
    with uow:
        return uow.catalog.server_types()


def list_images(uow: ComputeUnitOfWork) -> list[Image]:
    with uow:
        return uow.catalog.images()


def list_load_balancer_types(uow: ComputeUnitOfWork) -> list[LoadBalancerType]:
    with uow:
        return uow.load_balancer_types.all()


def _synced_event(st: ServerType, created: bool) -> events_pb2.ServerTypeSynced:
    return events_pb2.ServerTypeSynced(
        server_type_id=st.id,
        code=st.code,
        created=created,
        cpu_cores=st.cpu_cores,
        memory_gb=str(st.memory_gb),
        disk_gb=st.disk_gb,
        price_hourly=str(st.price_hourly),
        price_monthly=str(st.price_monthly),
        upstream_datacenters=st.upstream_datacenters,
        supported_datacenters=st.supported_datacenters,
        available=st.available,
    )


def sync_catalog(source: CatalogSource, uow: ComputeUnitOfWork) -> SyncReport:
    """Fetch upstream's server types, system images and load balancer types and upsert them in one
    transaction (a load balancer type's prices, once set, are the platform's: later syncs keep them)."""
    try:
        upstream_types = source.server_types()
        upstream_images = source.system_images()
        upstream_lb_types = source.load_balancer_types()
    except Exception as exc:  # the hcloud client raises its own and requests' errors
        log.warning("catalog_sync_upstream_failed", error=str(exc))
        raise Unavailable(f"upstream did not answer the catalog: {exc}") from exc
    created = updated = images_created = images_updated = 0
    now = utcnow()
    with uow:
        uow.catalog.lock_for_sync()
        codes = [dc.code for dc in uow.catalog.datacenters()]
        for up in upstream_types:
            upstream_dcs = [code for code in codes if code in up.locations]
            current = uow.catalog.server_type_by_code(up.code)
            figures = {
                "name": up.name[:100],
                "cpu_type": up.cpu_type,
                "cpu_cores": up.cores,
                "memory_gb": up.memory_gb,
                "disk_gb": up.disk_gb,
                "architecture": up.architecture,
                "hetzner_id": up.hetzner_id,
                "upstream_datacenters": upstream_dcs,
                "category": catalog.category_of(up),
                "disk_type": catalog.disk_type_of(up),
                "synced_at": now,
                "updated_at": now,
            }
            if current is None:
                price_hourly, price_monthly = catalog.initial_prices(up, codes)
                new_id = uow.catalog.insert_server_type(
                    {
                        **figures,
                        "code": up.code,
                        "price_hourly": price_hourly,
                        "price_monthly": price_monthly,
                        "available": not up.deprecated,
                        "supported_datacenters": upstream_dcs,
                        "created_at": now,
                        "version": 1,
                    }
                )
                st = uow.catalog.server_type(new_id)
                assert st is not None
                created += 1
                uow.record(_event(events.CATALOG_SERVER_TYPE_SYNCED, st, _synced_event(st, True)))
                continue
            if not catalog.upstream_figures_differ(current, up, upstream_dcs):
                continue
            supported = [code for code in current.supported_datacenters if code in upstream_dcs]
            uow.catalog.update_server_type(
                current.id, current.version + 1, {**figures, "supported_datacenters": supported}
            )
            st = uow.catalog.server_type(current.id)
            assert st is not None
            updated += 1
            uow.record(_event(events.CATALOG_SERVER_TYPE_SYNCED, st, _synced_event(st, False)))
        for image in upstream_images:
            existing = uow.catalog.system_image(image.name, image.architecture)
            if uow.catalog.upsert_system_image(existing, image, now):
                if existing is None:
                    images_created += 1
                else:
                    images_updated += 1
        for lb_type in upstream_lb_types:
            uow.load_balancer_types.upsert(lb_type, codes, now)
        uow.commit()
    report = SyncReport(created, updated, images_created, images_updated)
    log.info("catalog_synced", **report.__dict__)
    return report


def _event(spec: EventSpec, st: ServerType, payload: Message) -> PendingEvent:
    return new_event(spec, producer=SERVICE_NAME, aggregate_id=st.id, aggregate_version=st.version, payload=payload)


def _server_type_for_update(uow: ComputeUnitOfWork, server_type_id: int) -> ServerType:
    st = uow.catalog.server_type(server_type_id, for_update=True)
    if st is None:
        raise NotFound(f"server type {server_type_id} does not exist")
    return st


def set_price(server_type_id: int, price_hourly: str, price_monthly: str, uow: ComputeUnitOfWork) -> ServerType:
    """Set the platform's own prices of a server type (gross EUR); later syncs keep them."""
    hourly = catalog.parse_price("price_hourly", price_hourly, 6)
    monthly = catalog.parse_price("price_monthly", price_monthly, 2)
    with uow:
        st = _server_type_for_update(uow, server_type_id)
        if st.price_hourly == hourly and st.price_monthly == monthly:
            return st
        old_hourly, old_monthly = st.price_hourly, st.price_monthly
        uow.catalog.update_server_type(
            st.id, st.version + 1, {"price_hourly": hourly, "price_monthly": monthly, "updated_at": utcnow()}
        )
        changed = uow.catalog.server_type(st.id)
        assert changed is not None
        uow.record(
            _event(
                events.CATALOG_PRICE_CHANGED,
                changed,
                events_pb2.PriceChanged(
                    server_type_id=st.id,
                    code=st.code,
                    old_price_hourly=str(old_hourly),
                    old_price_monthly=str(old_monthly),
                    price_hourly=str(changed.price_hourly),
                    price_monthly=str(changed.price_monthly),
                ),
            )
        )
        uow.commit()
        return changed


def set_availability(server_type_id: int, datacenter_code: str, available: bool, uow: ComputeUnitOfWork) -> ServerType:
    """Offer or withdraw a server type in one datacenter (``datacenter_code``) or at all (empty)."""
    with uow:
        st = _server_type_for_update(uow, server_type_id)
        supported = list(st.supported_datacenters)
        everywhere = st.available
        if datacenter_code:
            codes = [dc.code for dc in uow.catalog.datacenters()]
            if datacenter_code not in codes:
                raise InvalidInput(f"datacenter {datacenter_code!r} does not exist; choose one of {', '.join(codes)}")
            if available and datacenter_code not in st.upstream_datacenters:
                raise PreconditionFailed(f"upstream does not offer {st.code} in {datacenter_code}")
            if available and datacenter_code not in supported:
                supported = [code for code in codes if code in (*supported, datacenter_code)]
            if not available:
                supported = [code for code in supported if code != datacenter_code]
        else:
            everywhere = available
        if supported == st.supported_datacenters and everywhere == st.available:
            return st
        uow.catalog.update_server_type(
            st.id,
            st.version + 1,
            {"supported_datacenters": supported, "available": everywhere, "updated_at": utcnow()},
        )
        changed = uow.catalog.server_type(st.id)
        assert changed is not None
        uow.record(
            _event(
                events.CATALOG_AVAILABILITY_CHANGED,
                changed,
                events_pb2.AvailabilityChanged(
                    server_type_id=st.id,
                    code=st.code,
                    available=changed.available,
                    supported_datacenters=changed.supported_datacenters,
                ),
            )
        )
        uow.commit()
        return changed
