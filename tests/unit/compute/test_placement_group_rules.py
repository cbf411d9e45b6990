"""Hetzner's rules for placement groups, on the plain domain record."""

from __future__ import annotations

import pytest

from compute_service.domain.placement_groups import MAX_SERVERS, InUse, PlacementGroup, check_name, check_type
from cpshared.errors import InvalidInput, LimitExceeded


def _group(server_ids: list[int], organization_id: int | None = None) -> PlacementGroup:
    return PlacementGroup(
        id=3, user_id=42, organization_id=organization_id, name="web", type="spread", server_ids=server_ids
    )


def test_a_spread_group_takes_servers_until_it_holds_ten() -> None:
    _group(list(range(MAX_SERVERS - 1))).ensure_room_for_one()
    with pytest.raises(LimitExceeded, match="contains already 10 servers"):
        _group(list(range(MAX_SERVERS))).ensure_room_for_one()


def test_only_an_empty_group_can_be_deleted() -> None:
    _group([]).ensure_empty()
    with pytest.raises(InUse, match="7, 8") as in_use:
        _group([7, 8]).ensure_empty()
    assert in_use.value.code == "resource_in_use"


def test_spread_is_the_only_type_and_a_name_is_needed() -> None:
    assert check_type("spread") == "spread"
    for kind in ("", "cluster", "Spread"):
        with pytest.raises(InvalidInput, match="type"):
            check_type(kind)
    for name in ("", "   ", "x" * 256):
        with pytest.raises(InvalidInput, match="name"):
            check_name(name)


def test_a_group_belongs_to_a_user_or_to_an_organization() -> None:
    own, organizations = _group([]), _group([], organization_id=7)
    assert own.same_tenant(42, None) and not own.same_tenant(43, None) and not own.same_tenant(42, 7)
    assert organizations.same_tenant(99, 7) and not organizations.same_tenant(42, None)
