"""Which service's image an id names. A server is rebuilt from an image id (Hetzner's
``rebuild``): compute's own images (snapshots, catalog images) are numbered from 1, storage's
backups of servers from :data:`FIRST_BACKUP_ID` (its ``backups`` table's AUTO_INCREMENT), so an
id says whose it is, as action ids do (``cpshared.action_ids``)."""

from __future__ import annotations

from typing import Final

FIRST_BACKUP_ID: Final = 10**12


def is_backup_id(image_id: int) -> bool:
    return image_id >= FIRST_BACKUP_ID
