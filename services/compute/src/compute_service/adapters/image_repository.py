"""Reading and writing tenants' snapshot images (seed ``images`` rows of type snapshot|backup)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t
from compute_service.domain.server_actions import IMAGE_TYPES, SnapshotImage

_COLUMNS = (t.images, t.servers.c.name.label("server_name"))
_FROM = t.images.outerjoin(t.servers, t.servers.c.id == t.images.c.server_id)


def _image(row: sa.Row[Any]) -> SnapshotImage:
    return SnapshotImage(
        id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        type=row.type,
        description=row.description or "",
        status=row.status or "creating",
        architecture=row.architecture or "x86",
        server_id=row.server_id,
        server_name=row.server_name or "",
        os_flavor=row.os_flavor or "",
        os_version=row.os_version or "",
        disk_size=int(row.disk_size or 0),
        size_gb=row.size_gb,
        hetzner_id=row.hetzner_id,
        labels=dict(row.labels or {}),
        created_at=row.created_at,
        protection_delete=bool(row.protection_delete),
        name=row.name,
    )


class ImageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, image: SnapshotImage, now: datetime) -> SnapshotImage:
        image.name = f"{image.type}-{now:%Y%m%d%H%M%S%f}"
        result = self.session.execute(
            sa.insert(t.images).values(
                name=image.name,
                description=image.description,
                type=image.type,
                os_flavor=image.os_flavor or None,
                os_version=image.os_version or None,
                architecture=image.architecture,
                status=image.status,
                public=False,
                user_id=image.user_id,
                organization_id=image.organization_id,
                labels=image.labels,
                server_id=image.server_id,
                disk_size=image.disk_size,
                min_disk_size=image.disk_size,
                protection_delete=image.protection_delete,
                created_at=now,
                updated_at=now,
            )
        )
        image.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        image.created_at = now
        return image

    def get(self, image_id: int, *, for_update: bool = False) -> SnapshotImage | None:
        """A tenant's image (never a system image)."""
        if for_update:
            locked = sa.select(t.images.c.id).where(t.images.c.id == image_id).with_for_update()
            if self.session.execute(locked).first() is None:
                return None
        query = (
            sa.select(*_COLUMNS)
            .select_from(_FROM)
            .where(t.images.c.id == image_id, t.images.c.type.in_(IMAGE_TYPES), t.images.c.public.is_(False))
        )
        row = self.session.execute(query).first()
        return _image(row) if row else None

    def of_tenant(self, user_id: int | None, organization_id: int | None) -> list[SnapshotImage]:
        """A user's own images (no organization) or an organization's; both None: every tenant's."""
        c = t.images.c
        where: list[sa.ColumnElement[bool]] = [c.type.in_(IMAGE_TYPES), c.public.is_(False)]
        if organization_id is not None:
            where.append(c.organization_id == organization_id)
        elif user_id is not None:
            where.extend([c.user_id == user_id, c.organization_id.is_(None)])
        query = sa.select(*_COLUMNS).select_from(_FROM).where(*where).order_by(c.id)
        return [_image(row) for row in self.session.execute(query)]

    def save(self, image: SnapshotImage, now: datetime) -> None:
        self.session.execute(
            sa.update(t.images)
            .where(t.images.c.id == image.id)
            .values(
                description=image.description,
                labels=image.labels,
                status=image.status,
                hetzner_id=image.hetzner_id,
                size_gb=image.size_gb,
                protection_delete=image.protection_delete,
                updated_at=now,
            )
        )

    def delete(self, image_id: int) -> None:
        """Delete the row; servers built from it show no image from then on (as Hetzner's do)."""
        self.session.execute(sa.update(t.servers).where(t.servers.c.image_id == image_id).values(image_id=None))
        self.session.execute(sa.delete(t.images).where(t.images.c.id == image_id))
