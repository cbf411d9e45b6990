"""Which service's action an id names. Hetzner's ``/v1/actions/{id}`` takes one id space; the
platform's actions live in the services that carry them out, each numbering its own from the
first id of its range (its ``actions`` table's AUTO_INCREMENT), so an id says whom to ask."""

from __future__ import annotations

from typing import Final

NETWORK_FIRST_ACTION_ID: Final = 10**12
STORAGE_FIRST_ACTION_ID: Final = 2 * 10**12

FIRST_ACTION_IDS: Final = {"compute": 1, "network": NETWORK_FIRST_ACTION_ID, "storage": STORAGE_FIRST_ACTION_ID}
"""Each service's first action id; its range runs up to the next service's first."""


def owner_of(action_id: int) -> str:
    """The service whose range holds ``action_id``."""
    return max((first, service) for service, first in FIRST_ACTION_IDS.items() if first <= action_id)[1]
