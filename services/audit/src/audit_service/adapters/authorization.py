"""Who may read which audit entries, decided from the verified principal of the call.

- a *service* principal, or none at all (the server runs unauthenticated: no trusted keys),
  reads everything;
- platform roles ``admin`` and ``support`` read every tenant's entries;
- anyone else (``client``, ``billing``) reads entries whose user is itself, and those of the
  organizations it owns or administers (``ORGANIZATION_LOG_ROLES``, as the assertion lists its
  organizations with its role in each): a plain or billing member does not read the
  organization's log (who did what, from which address), only its own entries.
"""

from __future__ import annotations

from audit_service.domain.audit_log import ALL_ENTRIES_ROLES, ORGANIZATION_LOG_ROLES, Reader
from cpshared.context import current_principal


def current_reader() -> Reader:
    principal = current_principal()
    if principal is None or principal.is_service or principal.role in ALL_ENTRIES_ROLES:
        return Reader.unrestricted()
    return Reader(
        everything=False,
        user_id=principal.user_id,
        organization_ids=tuple(
            sorted(org for org, role in principal.organizations.items() if role in ORGANIZATION_LOG_ROLES)
        ),
    )
