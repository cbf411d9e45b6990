from __future__ import annotations

import pytest
import sqlalchemy as sa

from cpshared.errors import InvalidInput
from hetzner_conventions.sorting import SortKey, order_by, parse_sort

ALLOWED = {"id", "name", "created"}


def test_fields_with_and_without_direction_keep_their_order() -> None:
    assert parse_sort(["name:desc", "id", "created:asc"], ALLOWED) == (
        SortKey("name", descending=True),
        SortKey("id"),
        SortKey("created"),
    )


def test_no_sort_is_no_keys() -> None:
    assert parse_sort([], ALLOWED) == ()


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["size"], "cannot sort by 'size'; sort by one of: created, id, name"),
        (["name:up"], "the direction must be 'asc' or 'desc'"),
        (["name:"], "the direction must be 'asc' or 'desc'"),
        (["id", "id:desc"], "'id' is given more than once"),
    ],
)
def test_a_bad_sort_is_invalid_input(values: list[str], complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint) as caught:
        parse_sort(values, ALLOWED)
    assert caught.value.details["fields"][0]["name"] == "sort"  # type: ignore[index]


def test_sort_keys_become_order_by_clauses() -> None:
    table = sa.table("servers", sa.column("id"), sa.column("name"))
    clauses = order_by(parse_sort(["name:desc", "id"], {"id", "name"}), {"id": table.c.id, "name": table.c.name})
    assert [str(c) for c in clauses] == ["servers.name DESC", "servers.id ASC"]
