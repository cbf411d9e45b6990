"""How a route declares what it needs: one decorator under the route's, naming the scope family
and access; :mod:`gateway_service.auth.policy` decides.

- ``@scope(Family.SERVERS, Access.WRITE)``: the key must hold ``servers:write`` (or ``*:write``).
- ``@staff(Family.USERS, Access.READ)``: a staff area; the caller's role must work there
  (``admin_only``: only admins; a function of the route's arguments when that depends on them)
  and the key must hold the scope.

The check runs after FastAPI has authenticated the caller (the route's ``principal:
Authenticated``) and validated the request, and before the route's body, so a malformed request
is answered invalid_input whoever sends it and a refused one changes nothing. Every authenticated route declares
its scope this way (``tests/unit/gateway/test_route_scopes.py`` holds every route to it).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from gateway_service.auth import policy
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])
AdminOnly = bool | Callable[[Mapping[str, Any]], bool]
PRINCIPAL = "principal"


@dataclass(frozen=True)
class RouteScope:
    """What a route needs of its caller."""

    family: Family
    access: Access
    staff: bool = False
    admin_only: AdminOnly = False

    def check(self, principal: Principal, arguments: Mapping[str, Any]) -> None:
        """Raises ``403 forbidden`` (the policy's message) unless the principal may call the route."""
        if self.staff:
            admin_only = self.admin_only(arguments) if callable(self.admin_only) else self.admin_only
            policy.require_staff(principal, self.family, self.access, admin_only=admin_only)
        else:
            policy.require_scope(principal, self.family, self.access)


def _declare(rule: RouteScope) -> Callable[[Endpoint], Endpoint]:
    def decorate(endpoint: Endpoint) -> Endpoint:
        if PRINCIPAL not in inspect.signature(endpoint).parameters:
            raise TypeError(f"{endpoint.__qualname__} declares a scope but takes no {PRINCIPAL!r}")

        @functools.wraps(endpoint)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            rule.check(kwargs[PRINCIPAL], kwargs)
            return await endpoint(*args, **kwargs)

        checked.route_scope = rule  # type: ignore[attr-defined]
        return cast(Endpoint, checked)

    return decorate


def scope(family: Family, access: Access) -> Callable[[Endpoint], Endpoint]:
    """The route needs the scope ``family:access`` (``write`` includes ``read``)."""
    return _declare(RouteScope(family, access))


def staff(family: Family, access: Access, *, admin_only: AdminOnly = False) -> Callable[[Endpoint], Endpoint]:
    """The route is in the staff area ``family`` (see ``policy.STAFF_AREAS``) and needs its scope."""
    return _declare(RouteScope(family, access, staff=True, admin_only=admin_only))


def route_scope(endpoint: Callable[..., Any]) -> RouteScope | None:
    """The scope a route's endpoint declares, if any."""
    rule = getattr(endpoint, "route_scope", None)
    return rule if isinstance(rule, RouteScope) else None
