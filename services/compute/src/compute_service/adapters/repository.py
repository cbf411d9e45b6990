"""Reading and writing the catalog and SSH keys inside one unit of work's session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.domain.catalog import Datacenter, Image, ServerType, UpstreamImage
from compute_service.domain.ssh_keys import SshKey
from cpshared.errors import AlreadyExists
from hetzner_conventions.label_sql import LabelRequirement, requirements_clause

DUPLICATE_KEY = 1062


def _datacenter(row: sa.Row[Any]) -> Datacenter:
    return Datacenter(
        id=row.id,
        code=row.code,
        name=row.name,
        city=row.city or "",
        country=row.country or "",
        continent=row.continent or "",
        latitude=row.latitude,
        longitude=row.longitude,
        status=row.status or "active",
        network_zones=tuple(row.network_zones or ()),
    )


def _server_type(row: sa.Row[Any]) -> ServerType:
    return ServerType(
        id=row.id,
        code=row.code,
        name=row.name,
        category=row.category or "standard",
        cpu_type=row.cpu_type or "",
        cpu_cores=row.cpu_cores,
        memory_gb=Decimal(row.memory_gb),
        disk_gb=row.disk_gb,
        disk_type=row.disk_type or "ssd",
        network_speed_gbps=Decimal(row.network_speed_gbps if row.network_speed_gbps is not None else 1),
        price_hourly=Decimal(row.price_hourly),
        price_monthly=Decimal(row.price_monthly),
        available=bool(row.available),
        supported_datacenters=list(row.supported_datacenters or []),
        upstream_datacenters=list(row.upstream_datacenters or []),
        architecture=row.architecture,
        hetzner_id=row.hetzner_id or 0,
        version=row.version,
        created_at=row.created_at,
    )


def _image(row: sa.Row[Any]) -> Image:
    return Image(
        id=row.id,
        hetzner_id=row.hetzner_id,
        name=row.name,
        description=row.description or "",
        type=row.type or "system",
        os_flavor=row.os_flavor or "",
        os_version=row.os_version or "",
        architecture=row.architecture or "x86",
        size_gb=row.size_gb,
        min_disk_size=row.min_disk_size if row.min_disk_size is not None else 10,
        status=row.status or "available",
        public=bool(row.public),
        user_id=row.user_id,
        rapid_deploy=bool(row.rapid_deploy),
        created_at=row.created_at,
        deprecated_at=row.deprecated_at,
    )


def _ssh_key(row: sa.Row[Any]) -> SshKey:
    return SshKey(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        name=row.name,
        public_key=row.public_key,
        fingerprint=row.fingerprint or "",
        type=row.type or "",
        labels=dict(row.labels or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


class CatalogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_for_sync(self) -> None:
        """Serialize catalog syncs until this transaction ends: two replicas starting together
        would otherwise both insert the same image (images have no unique upstream key). The
        datacenter rows are the lock: every sync reads them first."""
        self.session.execute(sa.select(t.datacenters.c.id).with_for_update())

    def datacenters(self) -> list[Datacenter]:
        rows = self.session.execute(sa.select(t.datacenters).order_by(t.datacenters.c.id))
        return [_datacenter(row) for row in rows]

    def server_types(self) -> list[ServerType]:
        rows = self.session.execute(sa.select(t.server_types).order_by(t.server_types.c.id))
        return [_server_type(row) for row in rows]

    def server_type(self, server_type_id: int, *, for_update: bool = False) -> ServerType | None:
        query = sa.select(t.server_types).where(t.server_types.c.id == server_type_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _server_type(row) if row else None

    def server_type_by_code(self, code: str, *, for_update: bool = True) -> ServerType | None:
        query = sa.select(t.server_types).where(t.server_types.c.code == code)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _server_type(row) if row else None

    def insert_server_type(self, values: dict[str, Any]) -> int:
        result = self.session.execute(sa.insert(t.server_types).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]

    def update_server_type(self, server_type_id: int, version: int, values: dict[str, Any]) -> None:
        self.session.execute(
            sa.update(t.server_types).where(t.server_types.c.id == server_type_id).values(**values, version=version)
        )

    def images(self) -> list[Image]:
        rows = self.session.execute(sa.select(t.images).where(t.images.c.public.is_(True)).order_by(t.images.c.id))
        return [_image(row) for row in rows]

    def system_image(self, name: str, architecture: str) -> Image | None:
        c = t.images.c
        query = sa.select(t.images).where(c.type == "system", c.name == name, c.architecture == architecture)
        row = self.session.execute(query.with_for_update()).first()
        return _image(row) if row else None

    def upsert_system_image(self, existing: Image | None, image: UpstreamImage, now: datetime) -> bool:
        """Insert or refresh a system image; True when something changed."""
        values: dict[str, Any] = {
            "hetzner_id": image.hetzner_id,
            "description": image.description,
            "os_flavor": image.os_flavor,
            "os_version": image.os_version,
            "size_gb": image.image_size_gb,
            "min_disk_size": image.disk_size_gb,
            "status": "deprecated" if image.deprecated_at else "available",
            "rapid_deploy": image.rapid_deploy,
            "deprecated_at": image.deprecated_at,
        }
        if existing is None:
            self.session.execute(
                sa.insert(t.images).values(
                    name=image.name,
                    type="system",
                    architecture=image.architecture,
                    public=True,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            return True
        current = {
            "hetzner_id": existing.hetzner_id,
            "description": existing.description,
            "os_flavor": existing.os_flavor,
            "os_version": existing.os_version,
            "size_gb": existing.size_gb,
            "min_disk_size": existing.min_disk_size,
            "status": existing.status,
            "rapid_deploy": existing.rapid_deploy,
            "deprecated_at": existing.deprecated_at.replace(tzinfo=None) if existing.deprecated_at else None,
        }
        wanted = {**values, "deprecated_at": image.deprecated_at.replace(tzinfo=None) if image.deprecated_at else None}
        if current == wanted:
            return False
        self.session.execute(sa.update(t.images).where(t.images.c.id == existing.id).values(**values, updated_at=now))
        return True


class SshKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[SshKey] = []
        """The keys written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, key: SshKey) -> None:
        if not any(seen is key for seen in self.seen):
            self.seen.append(key)

    def get(self, ssh_key_id: int, *, for_update: bool = False) -> SshKey | None:
        query = sa.select(t.ssh_keys).where(t.ssh_keys.c.id == ssh_key_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _ssh_key(row) if row else None

    def _unique(self, write: sa.Executable, name: str, fingerprint: str) -> Any:
        try:
            with self.session.begin_nested():
                return self.session.execute(write)
        except sa_exc.IntegrityError as exc:
            if getattr(exc.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            text = str(exc.orig)
            if "fingerprint" in text:
                raise AlreadyExists(
                    f"an SSH key with the fingerprint {fingerprint} exists already; it is not added twice",
                    details={"fields": [{"name": "public_key", "messages": ["already exists"]}]},
                ) from None
            raise AlreadyExists(
                f"an SSH key named {name!r} exists already; choose another name",
                details={"fields": [{"name": "name", "messages": ["already exists"]}]},
            ) from None

    def add(self, key: SshKey, now: datetime) -> SshKey:
        write = sa.insert(t.ssh_keys).values(
            user_id=key.user_id,
            organization_id=key.organization_id,
            name=key.name,
            public_key=key.public_key,
            fingerprint=key.fingerprint,
            type=key.type,
            labels=key.labels,
            created_at=now,
            updated_at=now,
            version=1,
        )
        result = self._unique(write, key.name, key.fingerprint)
        key.id = int(result.inserted_primary_key[0])
        key.created_at = key.updated_at = now
        key.version = 1
        self._saw(key)
        return key

    def save(self, key: SshKey, now: datetime) -> None:
        write = (
            sa.update(t.ssh_keys)
            .where(t.ssh_keys.c.id == key.id)
            .values(name=key.name, labels=key.labels, updated_at=now, version=key.version)
        )
        self._unique(write, key.name, key.fingerprint)
        key.updated_at = now
        self._saw(key)

    def delete(self, key: SshKey) -> None:
        self.session.execute(sa.delete(t.ssh_keys).where(t.ssh_keys.c.id == key.id))
        self._saw(key)

    def search(
        self,
        *,
        user_id: int | None,
        organization_id: int | None,
        name: str,
        fingerprint: str,
        requirements: Iterable[LabelRequirement],
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[SshKey], int]:
        """One page of the keys of a user (its own, not its organizations') and/or an
        organization; both None: every tenant's. ``order``: (id|name|created, descending)."""
        c = t.ssh_keys.c
        conditions: list[sa.ColumnElement[bool]] = []
        tenants: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            tenants.append(sa.and_(c.user_id == user_id, c.organization_id.is_(None)))
        if organization_id is not None:
            tenants.append(c.organization_id == organization_id)
        if user_id is not None or organization_id is not None:
            conditions.append(sa.or_(*tenants))
        if name:
            conditions.append(c.name == name)
        if fingerprint:
            conditions.append(c.fingerprint == fingerprint)
        conditions.append(requirements_clause(requirements, c.labels))
        where = sa.and_(*conditions)
        total = self.session.execute(sa.select(sa.func.count()).select_from(t.ssh_keys).where(where)).scalar_one()
        columns = {"id": c.id, "name": c.name, "created": c.created_at}
        order_by = [columns[field].desc() if descending else columns[field].asc() for field, descending in order]
        query = sa.select(t.ssh_keys).where(where).order_by(*order_by, c.id).offset(offset).limit(limit)
        return [_ssh_key(row) for row in self.session.execute(query)], int(total)
