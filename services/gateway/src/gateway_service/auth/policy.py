"""Authorization: the one place that decides what a principal may do.

Two independent checks, both needed:

- **Scopes** limit what an API key may do, whoever holds it. The vocabulary is
  ``<family>:read`` and ``<family>:write`` per resource family (``api_keys``, ``servers``,
  ...), plus ``*:read`` / ``*:write`` for every family; ``write`` includes ``read``. A key
  without the scope gets ``403 forbidden``. Admins' keys are limited by their scopes too
  (the first admin's key has ``*:read`` and ``*:write``).
- **Roles** decide whose resources a principal reaches: ``admin`` every user's; ``support``
  and ``billing`` their own, plus reading the families their job needs; ``client`` only its
  own. Another tenant's resource answers ``404 not_found``, exactly as if it did not exist,
  so ids cannot be probed.

A key can only hand on what it has: a new key's scopes must each be granted by the creating
key's scopes, and (except for admins) its rate limit may not exceed the creating key's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from cpshared.errors import Forbidden, NotFound
from gateway_service.auth.principal import Principal, Role

EVERY_FAMILY = "*"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


class Family(StrEnum):
    """Resource families that scopes name; a family joins here when its endpoints do."""

    API_KEYS = "api_keys"
    ORGANIZATIONS = "organizations"
    ACCOUNT = "account"  # the caller's own profile, password and sessions (/v1/me)
    USERS = "users"
    SETTINGS = "settings"
    QUOTAS = "quotas"
    TWO_FACTOR = "two_factor"
    """The caller's own two-factor authentication (/v1/me/two_factor)."""
    AUDIT_LOGS = "audit_logs"
    """The audit log (/v1/audit_logs): read-only; the audit service scopes it to the caller's
    tenants: a user reads the entries of its own actions and an organization's entries only as
    its owner or an admin of it (a plain or billing member does not read who did what, from
    which address); admins and support staff read every tenant's."""
    SSH_KEYS = "ssh_keys"
    """SSH keys (/v1/ssh_keys): the tenant's own; compute checks the tenant again."""
    SERVERS = "servers"
    """Servers and their actions (/v1/servers, /v1/actions): the tenant's own; compute checks the tenant again."""
    PLACEMENT_GROUPS = "placement_groups"
    """Placement groups (/v1/placement_groups): the tenant's own; compute checks the tenant again.
    A server joins or leaves one with a server action (servers:write)."""
    FLOATING_IPS = "floating_ips"
    """Floating IPs (/v1/floating_ips) and their actions: the tenant's own; network checks the tenant again."""
    PRIMARY_IPS = "primary_ips"
    """Primary IPs (/v1/primary_ips) and their actions: the tenant's own; network checks the tenant again."""
    VOLUMES = "volumes"
    """Volumes and their actions (/v1/volumes): the tenant's own; storage checks the tenant again."""
    NETWORKS = "networks"
    """Private networks (/v1/networks) and their actions: the tenant's own; network checks the tenant
    again. A server is attached or detached with a server action (servers:write)."""
    FIREWALLS = "firewalls"
    """Firewalls (/v1/firewalls) and their actions: the tenant's own; network checks the tenant again."""
    LOAD_BALANCERS = "load_balancers"
    """Load balancers (/v1/load_balancers) and their actions: the tenant's own; network checks the tenant again."""
    CERTIFICATES = "certificates"
    """Certificates (/v1/certificates): the tenant's own; network checks the tenant again."""
    INVOICES = "invoices"
    """Invoices (/v1/invoices): the tenant's own; billing staff every account's and the payment actions."""
    BILLING = "billing"
    """The tenant's monthly usage and its estimate (/v1/billing/usage)."""
    CREDITS = "credits"
    """Credits (/v1/credits): the tenant's own; billing staff grant them."""
    PAYMENT_METHODS = "payment_methods"
    """Payment methods (/v1/payment_methods): the tenant's own; billing checks the tenant again."""
    PRICING_PLANS = "pricing_plans"
    ALERT_RULES = "alert_rules"
    """Alert rules (/v1/alert_rules): the tenant's own; monitoring checks the tenant again."""
    ALERTS = "alerts"
    """Alerts (/v1/alerts): the tenant's rules' alerts; monitoring checks the tenant again."""
    UPTIME_MONITORS = "uptime_monitors"
    """Uptime monitors (/v1/uptime_monitors) with their results and uptime: the tenant's own;
    monitoring checks the tenant again."""
    """Pricing plans (/v1/pricing_plans): everyone reads; platform admins write."""
    # The catalog (api/catalog.py): readable by every principal whose key has the family's read scope.
    SERVER_TYPES = "server_types"
    LOCATIONS = "locations"
    DATACENTERS = "datacenters"
    IMAGES = "images"
    ISOS = "isos"
    PRICING = "pricing"
    LOAD_BALANCER_TYPES = "load_balancer_types"
    TICKETS = "tickets"
    """Support tickets (/v1/tickets): the tenant's own; support staff work every ticket
    (/v1/admin/tickets, a staff area). Support checks the tenant and the view again."""
    NOTIFICATIONS = "notifications"
    """The caller's own in-app inbox (/v1/notifications); support checks the user again."""
    MAINTENANCE_WINDOWS = "maintenance_windows"
    """Maintenance windows: anyone reads the upcoming and current ones (/v1/maintenance_windows,
    no authentication); admins and support staff keep them (/v1/admin/maintenance_windows)."""


# What staff roles may read of other users' resources, by family (admins reach everything).
STAFF_READABLE: Mapping[Role, frozenset[str]] = {
    # API keys are credentials: not for support staff; the audit log is how support investigates.
    Role.SUPPORT: frozenset({Family.AUDIT_LOGS.value}),
    Role.BILLING: frozenset(),
}


def scope(family: str, access: Access) -> str:
    return f"{family}:{access.value}"


def grants(scopes: Iterable[str], family: str, access: Access) -> bool:
    """Whether ``scopes`` allow ``access`` to ``family`` (``write`` includes ``read``)."""
    held = set(scopes)
    accesses = (Access.READ, Access.WRITE) if access is Access.READ else (Access.WRITE,)
    return any(scope(f, a) in held for f in (family, EVERY_FAMILY) for a in accesses)


def require_scope(principal: Principal, family: Family, access: Access) -> None:
    if not grants(principal.scopes, family, access):
        raise Forbidden(
            f"this API key lacks the scope {scope(family, access)!r}; use a key that has it "
            f"(or {scope(EVERY_FAMILY, access)!r})"
        )


def reaches_every_owner(principal: Principal, family: Family, access: Access) -> bool:
    """Whether the principal's role reaches ``family`` resources of every user, not only its own."""
    if principal.role is Role.ADMIN:
        return True
    return access is Access.READ and family.value in STAFF_READABLE.get(principal.role, frozenset())


def reaches(principal: Principal, owner_user_id: int, family: Family, access: Access) -> bool:
    """Whether the principal's role reaches a resource of ``family`` owned by ``owner_user_id``."""
    return owner_user_id == principal.user_id or reaches_every_owner(principal, family, access)


def ensure_reaches(principal: Principal, owner_user_id: int, family: Family, access: Access, what: str) -> None:
    """``404 not_found`` (``what`` names it) unless the principal reaches the resource."""
    if not reaches(principal, owner_user_id, family, access):
        raise NotFound(f"{what} does not exist")


# Staff areas (not tenant resources): which platform roles reach them at all, by access. A
# role outside gets 403 forbidden, never 404: the area exists, the caller may not use it.
STAFF_AREAS: Mapping[Family, Mapping[Access, frozenset[Role]]] = {
    Family.USERS: {
        Access.READ: frozenset({Role.ADMIN, Role.SUPPORT, Role.BILLING}),
        # Support only suspends and activates clients; identity enforces the rest of the rule.
        Access.WRITE: frozenset({Role.ADMIN, Role.SUPPORT}),
    },
    # Invoices, credits and payment methods are tenant resources (billing scopes them); recording
    # payments, cancelling, refunding and granting credits is billing staff's work.
    Family.INVOICES: {Access.WRITE: frozenset({Role.ADMIN, Role.BILLING})},
    Family.CREDITS: {Access.WRITE: frozenset({Role.ADMIN, Role.BILLING})},
    Family.PRICING_PLANS: {Access.WRITE: frozenset({Role.ADMIN})},
    # The helpdesk: platform admins and support staff read and answer every ticket, add internal
    # notes, assign and move them (billing staff open tickets as customers do).
    Family.TICKETS: {
        Access.READ: frozenset({Role.ADMIN, Role.SUPPORT}),
        Access.WRITE: frozenset({Role.ADMIN, Role.SUPPORT}),
    },
    Family.MAINTENANCE_WINDOWS: {
        Access.READ: frozenset({Role.ADMIN, Role.SUPPORT}),
        Access.WRITE: frozenset({Role.ADMIN, Role.SUPPORT}),
    },
    Family.SETTINGS: {Access.READ: frozenset({Role.ADMIN}), Access.WRITE: frozenset({Role.ADMIN})},
    Family.QUOTAS: {
        Access.READ: frozenset({Role.ADMIN, Role.SUPPORT, Role.BILLING}),
        Access.WRITE: frozenset({Role.ADMIN}),
    },
}


def require_staff(principal: Principal, family: Family, access: Access, *, admin_only: bool = False) -> None:
    """``403 forbidden`` unless the principal's role works in the staff area ``family`` (with
    ``admin_only``, unless it is an admin) and its key has the scope."""
    allowed = frozenset({Role.ADMIN}) if admin_only else STAFF_AREAS[family][access]
    if principal.role not in allowed:
        roles = ", ".join(sorted(r.value for r in allowed))
        raise Forbidden(f"this is a staff area: {scope(family, access)} is for the roles {roles}")
    require_scope(principal, family, access)


def check_grantable(principal: Principal, scopes: Iterable[str], rate_limit: int) -> None:
    """A new key may carry only scopes the creating key has, and no larger budget."""
    missing = []
    for wanted in scopes:
        family, _, access = wanted.partition(":")
        if access not in (Access.READ.value, Access.WRITE.value):
            continue  # malformed: identity rejects it with invalid_input and says why
        if family == EVERY_FAMILY:
            allowed = scope(EVERY_FAMILY, Access(access)) in principal.scopes or (
                access == Access.READ.value and scope(EVERY_FAMILY, Access.WRITE) in principal.scopes
            )
        else:
            allowed = grants(principal.scopes, family, Access(access))
        if not allowed:
            missing.append(wanted)
    if missing:
        raise Forbidden(f"this API key cannot grant scopes it does not have: {', '.join(missing)}")
    if principal.role is not Role.ADMIN and rate_limit > principal.rate_limit:
        raise Forbidden(
            f"rate_limit {rate_limit} is more than this API key's own ({principal.rate_limit}); ask for at most that"
        )
