"""Price figures more than one service states: compute meters backups with it, the gateway
shows it in ``/v1/pricing``."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

BACKUP_PERCENT: Final = Decimal(20)
"""Backups cost this percentage of the server type's prices (Hetzner's 20 %)."""
