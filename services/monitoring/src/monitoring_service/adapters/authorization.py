"""Who may call which monitoring RPC, decided from the verified principal of the call (the
gateway's policy is the first line, this the second):

- a *service* principal or a platform *admin* reaches every server and may run retention;
- a *user* reaches the servers it owns (bound to no organization) and those of the
  organization its request names, if it is a member; another tenant's server answers
  NOT_FOUND (it does not say whether it exists);
- no principal at all: the server runs unauthenticated (no trusted keys), nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable

from cpshared.auth.principal import Principal
from cpshared.context import current_principal
from cpshared.errors import Forbidden, NotFound


def _user() -> Principal | None:
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return None
    return principal


def require_admin(rpc: str) -> None:
    if _user() is not None:
        raise Forbidden(f"{rpc} is for platform admins and services only")


def reach(organization_id: int, what: str) -> Callable[[int, int | None], None]:
    """The check that the caller, acting in ``organization_id`` (0: none), reaches a resource
    of (user id, organization id); NOT_FOUND naming ``what`` otherwise."""

    def check(owner_user_id: int, owner_organization_id: int | None) -> None:
        user = _user()
        if user is None:
            return
        if owner_organization_id is None:
            if owner_user_id == user.user_id:
                return
        elif owner_organization_id == organization_id and user.role_in(organization_id) is not None:
            return
        raise NotFound(f"{what} does not exist")

    return check


def check_tenant(user_id: int, organization_id: int) -> None:
    """A user acts only as itself, and only for an organization it belongs to."""
    user = _user()
    if user is None:
        return
    if user_id != user.user_id:
        raise Forbidden("a user may act only as itself: user_id must be the caller's own id")
    if organization_id and user.role_in(organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist")
