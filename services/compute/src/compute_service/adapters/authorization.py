"""Who may call which compute RPC, decided from the verified principal of the call: the
platform's one rule of tenancy (:mod:`cpshared.auth.tenancy`), and the label selector's
operators a List RPC may use.

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

from cpshared.auth.tenancy import check_tenant as check_tenant
from cpshared.auth.tenancy import ensure_reaches as ensure_reaches_key
from cpshared.auth.tenancy import reaches_every_tenant as reaches_every_tenant
from cpshared.auth.tenancy import require_admin as require_admin
from cpshared.auth.tenancy import tenant_scope
from cpshared.errors import InvalidInput
from hetzner_conventions.label_sql import OPERATORS

__all__ = ["check_tenant", "ensure_reaches_key", "list_scope", "reaches_every_tenant", "require_admin"]


def list_scope(
    all_tenants: bool, user_id: int, organization_id: int, operators: Iterable[str], rpc: str
) -> tuple[int | None, int | None]:
    """The (user id, organization id) a List RPC searches, both None for every tenant (admins
    only); the label selector's operators must be known."""
    scope = tenant_scope(all_tenants, user_id, organization_id, rpc)
    for operator in operators:
        if operator not in OPERATORS:
            raise InvalidInput(f"label selector operator {operator!r} is unknown")
    return scope
