"""Who may call which identity RPC, decided from the verified principal of the call.

The gateway's policy is the first line; this is the second, so a call that reaches identity
some other way is held to the same rules:

- a *service* principal (the gateway asking who holds an API key, or any other trusted
  service) may call every RPC;
- a *user* principal may act only on itself: its own keys, login activity and
  organizations; an admin may act on anyone. Another user's resource answers NOT_FOUND
  (it does not say whether it exists); an RPC the user has no right to at all answers
  PERMISSION_DENIED;
- no principal at all means the server runs in unauthenticated mode (no trusted keys):
  nothing is checked, as the interceptor checks nothing either.
"""

from __future__ import annotations

from cpshared.auth.principal import Principal
from cpshared.context import current_principal
from cpshared.errors import Forbidden, NotFound


def _user() -> Principal | None:
    """The calling user when the rules apply to it; None for a service, an admin, or no check."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return None
    return principal


def require_service(rpc: str) -> None:
    """Only services (and admins) call ``rpc``: it is how a principal is obtained, or an operator's tool."""
    if _user() is not None:
        raise Forbidden(f"{rpc} is not open to users")


def owner_constraint() -> int | None:
    """The user id a user principal is confined to; None when the caller may act on anyone."""
    user = _user()
    return user.user_id if user is not None else None


def require_self(user_id: int, what: str) -> None:
    """The caller may act on ``user_id``'s resources: itself, or any user for admins and services."""
    own = owner_constraint()
    if own is not None and own != user_id:
        raise NotFound(f"{what} of user {user_id} do not exist")


def require_acting_self(acting_user_id: int) -> None:
    """A user principal acts only as itself: ``acting_user_id`` must be its own id."""
    own = owner_constraint()
    if own is not None and own != acting_user_id:
        raise Forbidden("a user may act only as itself: acting_user_id must be the caller's own id")


def acting_as_platform_admin() -> bool:
    """Whether the caller is a platform admin, who reaches every organization."""
    principal = current_principal()
    return principal is not None and not principal.is_service and principal.role == "admin"
