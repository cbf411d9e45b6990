"""Who may call which storage RPC: the platform's one rule of tenancy
(:mod:`cpshared.auth.tenancy`; another tenant's volume or server is NOT_FOUND), and the label
selector's operators a List RPC may use."""

from __future__ import annotations

from collections.abc import Iterable

from cpshared.auth.tenancy import check_tenant as check_tenant
from cpshared.auth.tenancy import ensure_reaches, tenant_scope
from cpshared.errors import InvalidInput
from hetzner_conventions.label_sql import OPERATORS
from storage_service.service_layer.volumes import Reach


def reach(organization_id: int, what: str) -> Reach:
    """The check that the caller, acting in ``organization_id``, reaches a resource's owner."""

    def check(user_id: int, owner_organization_id: int | None) -> None:
        ensure_reaches(user_id, owner_organization_id, organization_id, what)

    return check


def list_scope(
    all_tenants: bool, user_id: int, organization_id: int, operators: Iterable[str], rpc: str
) -> tuple[int | None, int | None]:
    scope = tenant_scope(all_tenants, user_id, organization_id, rpc)
    for operator in operators:
        if operator not in OPERATORS:
            raise InvalidInput(f"label selector operator {operator!r} is unknown")
    return scope
