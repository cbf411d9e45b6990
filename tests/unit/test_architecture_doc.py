"""docs/ARCHITECTURE.md's table of services and streams agrees with the code that declares them:
the services, each one's own stream, and exactly the streams each projection consumes."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from cloudctl.stack import ALL_SERVICES, PROJECTIONS
from cpshared.events.projection import Projection
from cpshared.topics import BY_NAME, SERVICE_STREAMS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
SKELETONS = ("network", "storage", "monitoring")


def table() -> dict[str, tuple[set[str], set[str]]]:
    """service → (streams it publishes, streams it follows), from the doc's first table."""
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("service", "---"):
            continue
        for service in cells[0].split(", "):
            rows[service] = (set(re.findall(r"`([a-z.]+)`", cells[2])), set(re.findall(r"`([a-z.]+)`", cells[3])))
    return rows


def projection_topics(spec: str) -> set[str]:
    module = importlib.import_module(spec.partition(":")[0])
    [projection] = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, Projection) and value.__module__ == module.__name__
    ]
    return {topic.name for topic in projection.topics}


def test_the_table_names_every_service_once() -> None:
    assert set(table()) == set(ALL_SERVICES)


def test_every_stream_the_table_names_is_declared_and_each_service_publishes_its_own() -> None:
    rows = table()
    for service, (publishes, follows) in rows.items():
        assert publishes | follows <= set(BY_NAME), service
        if service in SERVICE_STREAMS and service not in SKELETONS:
            assert SERVICE_STREAMS[service].name in publishes, service


def test_each_consumer_reads_exactly_the_streams_the_table_says() -> None:
    rows = table()
    for service, spec in PROJECTIONS.items():
        assert rows[service][1] == projection_topics(spec), service
