from __future__ import annotations

import pytest

from cpshared.errors import Forbidden, NotFound
from gateway_service.auth import policy
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.principal import Principal, Role


def principal(
    role: Role = Role.CLIENT, scopes: tuple[str, ...] = ("api_keys:write",), rate_limit: int = 100
) -> Principal:
    return Principal(
        user_id=7, api_key_id=70, role=role, scopes=frozenset(scopes), organization_id=None, rate_limit=rate_limit
    )


def test_write_scopes_include_read_and_star_covers_every_family() -> None:
    assert policy.grants({"api_keys:write"}, "api_keys", Access.READ)
    assert not policy.grants({"api_keys:read"}, "api_keys", Access.WRITE)
    assert policy.grants({"*:read"}, "api_keys", Access.READ)
    assert not policy.grants({"*:read"}, "api_keys", Access.WRITE)
    assert not policy.grants({"servers:write"}, "api_keys", Access.READ)


def test_a_missing_scope_is_forbidden_even_for_an_admin() -> None:
    with pytest.raises(Forbidden, match="api_keys:read"):
        policy.require_scope(principal(Role.ADMIN, ("servers:read",)), Family.API_KEYS, Access.READ)


def test_clients_reach_only_their_own_resources_and_admins_everyones() -> None:
    client, admin = principal(), principal(Role.ADMIN)
    assert policy.reaches(client, 7, Family.API_KEYS, Access.WRITE)
    assert not policy.reaches(client, 8, Family.API_KEYS, Access.READ)
    assert policy.reaches(admin, 8, Family.API_KEYS, Access.WRITE)
    for staff in (Role.SUPPORT, Role.BILLING):
        assert not policy.reaches(principal(staff), 8, Family.API_KEYS, Access.READ)


def test_another_tenants_resource_is_not_found_rather_than_forbidden() -> None:
    with pytest.raises(NotFound, match="API key 5 does not exist"):
        policy.ensure_reaches(principal(), 8, Family.API_KEYS, Access.READ, "API key 5")


def test_a_key_grants_only_scopes_and_budget_it_has() -> None:
    creator = principal(scopes=("api_keys:write", "servers:read"), rate_limit=100)
    policy.check_grantable(creator, ["api_keys:read", "api_keys:write", "servers:read"], 100)
    for wider in (["servers:write"], ["*:read"], ["volumes:read"]):
        with pytest.raises(Forbidden):
            policy.check_grantable(creator, wider, 10)
    with pytest.raises(Forbidden, match="rate_limit"):
        policy.check_grantable(creator, ["api_keys:read"], 101)
    star = principal(Role.ADMIN, ("*:write",), rate_limit=10)
    policy.check_grantable(star, ["*:read", "*:write", "servers:write"], 10_000)
