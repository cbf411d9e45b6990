"""Compute's projection of storage's backups (``server_backups``), inside one session."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.orm import Session

from compute_service.adapters import tables as t


class ServerBackupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def hetzner_id(self, backup_id: int, server_id: int) -> int | None:
        """The upstream image of the server's backup ``backup_id``; None: not the server's (any more)."""
        c = t.server_backups.c
        return self.session.execute(
            sa.select(c.hetzner_id).where(c.backup_id == backup_id, c.server_id == server_id)
        ).scalar_one_or_none()

    def add(self, backup_id: int, server_id: int, hetzner_id: int) -> None:
        self.session.execute(
            mysql_insert(t.server_backups)
            .values(backup_id=backup_id, server_id=server_id, hetzner_id=hetzner_id)
            .prefix_with("IGNORE")
        )

    def remove(self, backup_id: int) -> None:
        self.session.execute(sa.delete(t.server_backups).where(t.server_backups.c.backup_id == backup_id))
