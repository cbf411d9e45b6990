"""The label selector's SQL condition selects, in MariaDB, exactly what the in-memory matcher does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.label_sql import requirements_clause

metadata = sa.MetaData()
things = sa.Table(
    "labelled_things",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("labels", sa.JSON, nullable=True),
)

LABELS: dict[int, dict[str, str] | None] = {
    1: {"env": "prod", "tier": "web", "example.com/team": "core"},
    2: {"env": "dev", "tier": "db"},
    3: {"env": "prod", "flag": ""},
    4: {},
    5: None,
}


@pytest.fixture
def table(engine: sa.Engine) -> sa.Table:
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"id": i, "labels": labels} for i, labels in LABELS.items()])
    return things


@pytest.mark.parametrize(
    "selector",
    [
        "",
        "env=prod",
        "env==dev",
        "env!=prod",
        "tier",
        "!tier",
        "env in (dev,prod),tier",
        "env notin (prod)",
        "example.com/team=core",
        "flag=",
        "env=prod,!flag",
    ],
)
def test_sql_and_in_memory_matching_agree(engine: sa.Engine, table: sa.Table, selector: str) -> None:
    parsed = parse_label_selector(selector)
    with engine.connect() as conn:
        in_sql = set(
            conn.scalars(sa.select(table.c.id).where(requirements_clause(parsed.requirements, table.c.labels)))
        )
    in_memory = {i for i, labels in LABELS.items() if parsed.matches(labels or {})}
    assert in_sql == in_memory
