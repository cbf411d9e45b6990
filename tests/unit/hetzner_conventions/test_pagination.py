from __future__ import annotations

import pytest
from starlette.datastructures import URL

from cpshared.errors import InvalidInput
from hetzner_conventions.pagination import PageRequest, link_header, paginate, parse_page_request

BASE = URL("http://api.test/v1/servers?label_selector=env%3Dprod&sort=id&sort=name:desc&page=3&per_page=5")


def test_defaults_are_the_first_page_of_25() -> None:
    assert parse_page_request(None, None) == PageRequest(page=1, per_page=25)
    assert parse_page_request("", "") == PageRequest(page=1, per_page=25)


def test_per_page_above_50_is_served_as_50() -> None:
    assert parse_page_request("2", "500") == PageRequest(page=2, per_page=50)


@pytest.mark.parametrize(
    ("page", "per_page", "field"), [("0", None, "page"), ("x", None, "page"), (None, "-1", "per_page")]
)
def test_a_page_that_is_not_a_positive_number_is_invalid(page: str | None, per_page: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_page_request(page, per_page)
    assert caught.value.details["fields"][0]["name"] == field  # type: ignore[index]


def test_offset_and_limit_of_a_page() -> None:
    assert (PageRequest(3, 5).offset, PageRequest(3, 5).limit) == (10, 5)


def test_first_page_has_next_and_last_but_no_previous() -> None:
    pagination = paginate(PageRequest(1, 5), total_entries=23)
    assert pagination.as_meta() == {
        "pagination": {
            "page": 1,
            "per_page": 5,
            "previous_page": None,
            "next_page": 2,
            "last_page": 5,
            "total_entries": 23,
        }
    }
    header = link_header(BASE, pagination)
    assert header is not None
    assert 'rel="prev"' not in header
    assert header.endswith('page=5&per_page=5>; rel="last"')


def test_a_middle_page_links_prev_next_and_last_keeping_the_other_parameters() -> None:
    pagination = paginate(PageRequest(3, 5), total_entries=23)
    assert (pagination.previous_page, pagination.next_page, pagination.last_page) == (2, 4, 5)
    header = link_header(BASE, pagination)
    assert header == (
        "<http://api.test/v1/servers?label_selector=env%3Dprod&sort=id&sort=name%3Adesc&page=2&per_page=5>; "
        'rel="prev", '
        "<http://api.test/v1/servers?label_selector=env%3Dprod&sort=id&sort=name%3Adesc&page=4&per_page=5>; "
        'rel="next", '
        "<http://api.test/v1/servers?label_selector=env%3Dprod&sort=id&sort=name%3Adesc&page=5&per_page=5>; "
        'rel="last"'
    )


def test_the_last_page_links_only_back() -> None:
    pagination = paginate(PageRequest(5, 5), total_entries=23)
    assert (pagination.previous_page, pagination.next_page, pagination.last_page) == (4, None, 5)
    header = link_header(BASE, pagination)
    assert header is not None
    assert header.count("rel=") == 1
    assert 'page=4&per_page=5>; rel="prev"' in header


def test_an_empty_list_is_one_page_without_links() -> None:
    pagination = paginate(PageRequest(1, 25), total_entries=0)
    assert (pagination.previous_page, pagination.next_page, pagination.last_page) == (None, None, 1)
    assert link_header(BASE, pagination) is None


def test_a_page_past_the_end_points_back_to_the_last_page() -> None:
    pagination = paginate(PageRequest(9, 5), total_entries=23)
    assert (pagination.previous_page, pagination.next_page, pagination.last_page) == (5, None, 5)
