"""Who may call which compute RPC, decided from the verified principal of the call.

The gateway's policy is the first line; this is the second:

- a *service* principal, or a platform *admin*, may call every RPC and reaches every key;
- a *user* principal reads the catalog, acts only as itself (``user_id`` must be its own)
  and only for organizations it belongs to; it reaches its own keys (those bound to no
  organization) and the keys of the organization its request names. Another tenant's key
  answers NOT_FOUND (it does not say whether it exists); an admin-only RPC answers
  PERMISSION_DENIED;
- no principal at all means the server runs in unauthenticated mode (no trusted keys):
  nothing is checked, as the interceptor checks nothing either.
"""

from __future__ import annotations

from collections.abc import Iterable

from cpshared.auth import tenancy
from cpshared.auth.tenancy import check_tenant, ensure_reaches, reaches_every_tenant, require_admin
from hetzner_conventions.label_sql import OPERATORS

__all__ = ["check_tenant", "ensure_reaches", "list_scope", "reaches_every_tenant", "require_admin"]


def list_scope(
    all_tenants: bool, user_id: int, organization_id: int, operators: Iterable[str], rpc: str
) -> tuple[int | None, int | None]:
    """The (user id, organization id) a List RPC searches, both None for every tenant (admins
    only); the label selector's operators must be Hetzner's."""
    return tenancy.list_scope(all_tenants, user_id, organization_id, operators, rpc, OPERATORS)
