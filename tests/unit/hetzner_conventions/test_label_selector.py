from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from cpshared.errors import InvalidInput
from hetzner_conventions.label_selector import LabelSelector, Requirement, parse_label_selector
from hetzner_conventions.label_sql import requirements_clause

PROD_WEB = {"env": "prod", "tier": "web", "example.com/team": "core", "flag": ""}


def test_every_operator_parses_into_its_requirement() -> None:
    selector = parse_label_selector("a=1, b==2,c!=3,d,!e,f in (x, y),g notin (z),example.com/team=core")
    assert selector.requirements == (
        Requirement("a", "=", ("1",)),
        Requirement("b", "=", ("2",)),
        Requirement("c", "!=", ("3",)),
        Requirement("d", "exists"),
        Requirement("e", "!exists"),
        Requirement("f", "in", ("x", "y")),
        Requirement("g", "notin", ("z",)),
        Requirement("example.com/team", "=", ("core",)),
    )


def test_a_missing_or_blank_selector_selects_everything() -> None:
    assert parse_label_selector(None) == LabelSelector(())
    assert parse_label_selector("  ").matches({})


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("env=prod", True),
        ("env==prod", True),
        ("env=dev", False),
        ("env!=dev", True),
        ("env!=prod", False),
        ("missing!=x", True),
        ("env", True),
        ("missing", False),
        ("!missing", True),
        ("!env", False),
        ("env in (dev,prod)", True),
        ("env in (dev,test)", False),
        ("missing in (dev)", False),
        ("env notin (dev,test)", True),
        ("env notin (prod)", False),
        ("missing notin (prod)", True),
        ("flag=", True),
        ("env=prod,tier=web", True),
        ("env=prod,tier=db", False),
        ("example.com/team in (core)", True),
    ],
)
def test_a_selector_matches_labels_as_hetzner_describes(selector: str, selected: bool) -> None:
    assert parse_label_selector(selector).matches(PROD_WEB) is selected


@pytest.mark.parametrize(
    ("selector", "complaint"),
    [
        ("env=prod,", "expected a label key, found the end"),
        ("=prod", "expected a label key, found '='"),
        ("env prod", "expected '=', '==', '!=', 'in' or 'notin' after 'env', found 'prod'"),
        ("env in dev", "expected '(' to open the list of values"),
        ("env in (dev", "expected ',' or ')' to close the list of values, found the end"),
        ("env in ()", "expected a label value, found ')'"),
        ("env=a=b", "expected ',' or the end, found '='"),
        ("env=pr od", "expected ',' or the end, found 'od'"),
        ("env=pr*d", "unexpected character '*'"),
        ("-env=prod", "key '-env' must be at most 63"),
        ("env=" + "x" * 64, "must be at most 63"),
        ("Bad_Prefix/env=prod", "key prefix 'Bad_Prefix' is not a DNS subdomain"),
        ("env=a/b", "value 'a/b' must be"),
        ("!", "expected a label key after '!'"),
    ],
)
def test_a_malformed_selector_is_invalid_input_saying_what_is_wrong(selector: str, complaint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_label_selector(selector)
    assert complaint in caught.value.message
    assert caught.value.code == "invalid_input"
    assert caught.value.details["fields"] == [{"name": "label_selector", "messages": [caught.value.message]}]


def test_the_error_says_where_in_the_selector_it_is() -> None:
    with pytest.raises(InvalidInput, match=r"at position 10"):
        parse_label_selector("env=prod,=x")


def test_the_sql_clause_uses_quoted_json_paths_and_bound_values() -> None:
    labels = sa.column("labels", sa.JSON)
    clause = requirements_clause(parse_label_selector("example.com/team in (core,ops),!gone").requirements, labels)
    compiled = clause.compile(dialect=mysql.dialect())
    sql = str(compiled)
    assert "json_contains_path" in sql.lower()
    assert "json_unquote(json_extract" in sql.lower()
    assert '$."example.com/team"' in compiled.params.values()
    assert "core" not in sql  # values are bound, never spliced
    assert str(requirements_clause(LabelSelector(()).requirements, labels).compile(dialect=mysql.dialect())) == "true"
