"""Who reaches which tenant's resource, decided from the verified principal of the call: the
rules every service applies to the resources it keeps (its ``adapters/authorization.py``).

- a *service* principal, or a platform *admin*, may call every RPC and reaches every resource;
- a *user* principal acts only as itself (``user_id`` must be its own) and only for
  organizations it belongs to; it reaches its own resources (bound to no organization) and those
  of the organization its request names. Another tenant's resource answers NOT_FOUND (it does
  not say whether it exists); an admin-only RPC answers PERMISSION_DENIED;
- no principal at all means the server runs in unauthenticated mode (no trusted keys):
  nothing is checked, as the interceptor checks nothing either.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from cpshared.auth.principal import Principal
from cpshared.context import current_principal
from cpshared.errors import Forbidden, InvalidInput, NotFound


def _user() -> Principal | None:
    """The calling user when the rules apply to it; None for a service, an admin, or no check."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return None
    return principal


def require_admin(rpc: str) -> None:
    if _user() is not None:
        raise Forbidden(f"{rpc} is for platform admins only")


def check_tenant(user_id: int, organization_id: int) -> None:
    """A user acts only as itself, and only for an organization it belongs to."""
    user = _user()
    if user is None:
        return
    if user_id != user.user_id:
        raise Forbidden("a user may act only as itself: user_id must be the caller's own id")
    if organization_id and user.role_in(organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist")


def reaches_every_tenant() -> bool:
    return _user() is None


def ensure_reaches(owner_user_id: int, owner_organization_id: int | None, organization_id: int, what: str) -> None:
    """NOT_FOUND unless the caller reaches a resource of (``owner_user_id``,
    ``owner_organization_id``) when acting in ``organization_id`` (0: none)."""
    user = _user()
    if user is None:
        return
    if owner_organization_id is None:
        if owner_user_id == user.user_id:
            return
    elif owner_organization_id == organization_id and user.role_in(organization_id) is not None:
        return
    raise NotFound(f"{what} does not exist")


def list_scope(
    all_tenants: bool,
    user_id: int,
    organization_id: int,
    operators: Iterable[str],
    rpc: str,
    known_operators: Collection[str],
) -> tuple[int | None, int | None]:
    """:func:`tenant_scope`, the label selector's operators checked to be among ``known_operators``."""
    scope = tenant_scope(all_tenants, user_id, organization_id, rpc)
    for operator in operators:
        if operator not in known_operators:
            raise InvalidInput(f"label selector operator {operator!r} is unknown")
    return scope


def tenant_scope(all_tenants: bool, user_id: int, organization_id: int, rpc: str) -> tuple[int | None, int | None]:
    """The (user id, organization id) a List call searches, both None for every tenant (admins only)."""
    if all_tenants:
        require_admin(f"{rpc} for every tenant")
        return None, None
    check_tenant(user_id, organization_id)
    return user_id, organization_id or None
