"""Who reaches which billing data, decided from the verified principal of the call.

- a *service*, a platform *admin* or a platform *billing* user is staff: every account's
  invoices, and the staff actions (payments, cancellations, refunds);
- any other user reaches its own account (invoices addressed to it as a user) and the account
  of each organization where it is the owner, an admin or a billing member; plain members
  do not see the organization's invoices. Anything else answers NOT_FOUND, as if it did not
  exist;
- no principal at all: the server runs unauthenticated (no trusted keys) and checks nothing.
"""

from __future__ import annotations

from cpshared.auth.principal import Principal
from cpshared.context import current_principal
from cpshared.errors import Forbidden, NotFound

STAFF_ROLES = ("admin", "billing")
ORGANIZATION_BILLING_ROLES = ("owner", "admin", "billing")


def _user() -> Principal | None:
    """The calling user when the tenant rules apply to it; None for staff, services, or no check."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role in STAFF_ROLES:
        return None
    return principal


def is_staff() -> bool:
    return _user() is None


def require_staff(what: str) -> None:
    if _user() is not None:
        raise Forbidden(f"{what} is for billing staff (platform admins and the billing role) only")


def check_account(user_id: int, organization_id: int) -> None:
    """A user reads its own account, or an organization's where it has a billing role."""
    user = _user()
    if user is None:
        return
    if user_id != user.user_id:
        raise Forbidden("a user may act only as itself: user_id must be the caller's own id")
    if organization_id and user.role_in(organization_id) not in ORGANIZATION_BILLING_ROLES:
        raise NotFound(f"organization {organization_id} does not exist or its billing is not yours to see")


def ensure_reaches_account(account_type: str, account_id: int, what: str) -> None:
    user = _user()
    if user is None:
        return
    if account_type == "user" and account_id == user.user_id:
        return
    if account_type == "organization" and user.role_in(account_id) in ORGANIZATION_BILLING_ROLES:
        return
    raise NotFound(f"{what} does not exist")


def require_admin(what: str) -> None:
    """Platform admins and services (or no check at all)."""
    principal = current_principal()
    if principal is None or principal.is_service or principal.role == "admin":
        return
    raise Forbidden(f"{what} is for platform admins only")
