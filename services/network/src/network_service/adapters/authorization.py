"""Who may call which network RPC, decided from the verified principal of the call: the
platform's tenancy rules (:mod:`cpshared.auth.tenancy`). Another tenant's floating IP or action
answers NOT_FOUND."""

from __future__ import annotations

from collections.abc import Iterable

from cpshared.auth import tenancy
from cpshared.auth.tenancy import check_tenant, ensure_reaches, require_admin
from hetzner_conventions.label_sql import OPERATORS

__all__ = ["check_tenant", "ensure_reaches", "list_scope", "require_admin"]


def list_scope(
    all_tenants: bool, user_id: int, organization_id: int, operators: Iterable[str], rpc: str
) -> tuple[int | None, int | None]:
    """The (user id, organization id) a List RPC searches, both None for every tenant (admins
    only); the label selector's operators must be Hetzner's."""
    return tenancy.list_scope(all_tenants, user_id, organization_id, operators, rpc, OPERATORS)
