"""Reading and writing servers' backups (and storage's projection of the servers they belong
to) inside one unit of work's session."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from cpshared.timestamps import as_utc
from storage_service.adapters import tables as t
from storage_service.domain.backups import DELETING, Backup, BackupServer


def _server(row: sa.Row[Any]) -> BackupServer:
    return BackupServer(
        server_id=row.server_id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        upstream_id=row.upstream_id or 0,
        backups_enabled=bool(row.backups_enabled),
        deleted=bool(row.deleted),
    )


_COLUMNS = (
    *t.backups.c,
    t.backup_servers.c.user_id,
    t.backup_servers.c.organization_id,
)


def _backup(row: sa.Row[Any]) -> Backup:
    return Backup(
        id=row.id,
        server_id=row.server_id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        hetzner_id=row.hetzner_id,
        type=row.type or "automated",
        description=row.description or "",
        size_gb=Decimal(row.size_gb) if row.size_gb is not None else None,
        status=row.status or "creating",
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at) if row.expires_at is not None else None,
    )


class BackupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Backup] = []
        """The backups written in this unit of work: it collects their recorded events on commit."""

    def _saw(self, backup: Backup) -> None:
        if not any(seen is backup for seen in self.seen):
            self.seen.append(backup)

    # -- the servers ----------------------------------------------------------------------
    def server(self, server_id: int, *, for_update: bool = False) -> BackupServer | None:
        query = sa.select(t.backup_servers).where(t.backup_servers.c.server_id == server_id)
        row = self.session.execute(query.with_for_update() if for_update else query).first()
        return _server(row) if row is not None else None

    def server_created(self, server_id: int, user_id: int, organization_id: int | None, enabled: bool) -> None:
        self.session.execute(
            mysql_insert(t.backup_servers)
            .values(
                server_id=server_id,
                user_id=user_id,
                organization_id=organization_id,
                upstream_id=0,
                backups_enabled=enabled,
                deleted=False,
            )
            .prefix_with("IGNORE")
        )

    def _set(self, server_id: int, **values: Any) -> None:
        self.session.execute(
            sa.update(t.backup_servers).where(t.backup_servers.c.server_id == server_id).values(**values)
        )

    def set_upstream_id(self, server_id: int, upstream_id: int) -> None:
        self._set(server_id, upstream_id=upstream_id)

    def set_enabled(self, server_id: int, enabled: bool) -> None:
        self._set(server_id, backups_enabled=enabled)

    def set_deleted(self, server_id: int) -> None:
        self._set(server_id, deleted=True, backups_enabled=False)

    def servers_of_user(self, user_id: int) -> list[BackupServer]:
        c = t.backup_servers.c
        rows = self.session.execute(
            sa.select(t.backup_servers).where(c.user_id == user_id, c.organization_id.is_(None)).order_by(c.server_id)
        )
        return [_server(row) for row in rows]

    def servers_with_backups(self) -> list[BackupServer]:
        has_rows = sa.exists().where(t.backups.c.server_id == t.backup_servers.c.server_id)
        rows = self.session.execute(
            sa.select(t.backup_servers)
            .where(sa.or_(sa.and_(t.backup_servers.c.backups_enabled, sa.not_(t.backup_servers.c.deleted)), has_rows))
            .order_by(t.backup_servers.c.server_id)
        )
        return [_server(row) for row in rows]

    # -- the backups ----------------------------------------------------------------------
    def _select(self) -> sa.Select[Any]:
        return sa.select(*_COLUMNS).join_from(
            t.backups, t.backup_servers, t.backup_servers.c.server_id == t.backups.c.server_id
        )

    def _found(self, query: sa.Select[Any], for_update: bool) -> list[Backup]:
        rows = self.session.execute(query.with_for_update(of=t.backups) if for_update else query)
        return [_backup(row) for row in rows]

    def of_server(self, server_id: int, *, for_update: bool = False) -> list[Backup]:
        query = (
            self._select()
            .where(t.backups.c.server_id == server_id)
            .order_by(t.backups.c.created_at.desc(), t.backups.c.id.desc())
        )
        return self._found(query, for_update)

    def get(self, backup_id: int, *, for_update: bool = False) -> Backup | None:
        found = self._found(self._select().where(t.backups.c.id == backup_id), for_update)
        return found[0] if found else None

    def _values(self, backup: Backup) -> dict[str, Any]:
        return {
            "server_id": backup.server_id,
            "hetzner_id": backup.hetzner_id,
            "type": backup.type,
            "description": backup.description,
            "size_gb": backup.size_gb,
            "status": backup.status,
            "created_at": backup.created_at,
            "expires_at": backup.expires_at,
        }

    def add(self, backup: Backup) -> Backup:
        result = self.session.execute(sa.insert(t.backups).values(**self._values(backup)))
        backup.id = int(result.inserted_primary_key[0])  # type: ignore[attr-defined]
        self._saw(backup)
        return backup

    def save(self, backup: Backup) -> None:
        self.session.execute(sa.update(t.backups).where(t.backups.c.id == backup.id).values(**self._values(backup)))
        self._saw(backup)

    def remove(self, backup: Backup) -> None:
        self.session.execute(sa.delete(t.backups).where(t.backups.c.id == backup.id))
        self._saw(backup)

    def deleting(self, limit: int) -> list[Backup]:
        query = self._select().where(t.backups.c.status == DELETING).order_by(t.backups.c.id).limit(limit)
        return self._found(query, True)
