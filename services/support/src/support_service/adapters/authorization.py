"""Who may call which ticket RPC, decided from the verified principal of the call.

The gateway's policy is the first line; this is the second:

- the **staff view** (every ticket, internal notes, assignment, statuses) is for platform
  admins and support staff, and services; anyone else asking for it is PERMISSION_DENIED;
- the **customer view**: a user acts only as itself and only for organizations it belongs to;
  it reaches its own tickets (those of no organization) and those of the organization its
  request names. Another tenant's ticket answers NOT_FOUND (it does not say whether it exists);
- no principal at all means the server runs in unauthenticated mode (no trusted keys):
  nothing is checked, as the interceptor checks nothing either.
"""

from __future__ import annotations

from typing import Final

from cpshared.auth.principal import Principal
from cpshared.context import current_principal
from cpshared.errors import Forbidden, InvalidInput, NotFound
from support_service.domain.tickets import Ticket
from support_service.service_layer.tickets import View

STAFF_ROLES: Final = frozenset({"admin", "support"})


def _principal() -> Principal | None:
    return current_principal()


def require_staff(rpc: str) -> None:
    principal = _principal()
    if principal is None or principal.is_service or principal.role in STAFF_ROLES:
        return
    raise Forbidden(f"{rpc} in the staff view is for platform admins and support staff only")


def check_tenant(user_id: int, organization_id: int) -> None:
    """A user acts only as itself, and only for an organization it belongs to."""
    principal = _principal()
    if user_id <= 0:
        raise InvalidInput("user_id must name the customer")
    if principal is None or principal.is_service:
        return
    if user_id != principal.user_id:
        raise Forbidden("a user may act only as itself: user_id must be the caller's own id")
    if organization_id and principal.role_in(organization_id) is None:
        raise NotFound(f"organization {organization_id} does not exist")


MANAGING_ROLES: Final = frozenset({"owner", "admin"})


def check_account_manager(user_id: int, organization_id: int, what: str) -> None:
    """The user itself, or for an organization one of its owners and admins."""
    check_tenant(user_id, organization_id)
    principal = _principal()
    if not organization_id or principal is None or principal.is_service:
        return
    if principal.role_in(organization_id) not in MANAGING_ROLES:
        raise Forbidden(f"only the organization's owners and admins may see or change {what}")


def actor() -> int:
    """The calling user's id (0 for a service or no principal)."""
    principal = _principal()
    return principal.user_id if principal is not None and not principal.is_service else 0


def view(organization_id: int, staff: bool, rpc: str) -> View:
    """The view a call reads and writes tickets through."""
    if staff:
        require_staff(rpc)
        return View(actor_user_id=actor(), staff=True, reach=lambda ticket: None)
    principal = _principal()

    def reach(ticket: Ticket) -> None:
        if principal is None or principal.is_service:
            return
        if organization_id and principal.role_in(organization_id) is None:
            raise NotFound(f"ticket {ticket.id} does not exist")
        if not ticket.belongs_to(principal.user_id, organization_id or None):
            raise NotFound(f"ticket {ticket.id} does not exist")

    return View(actor_user_id=actor(), staff=False, reach=reach)
