"""Golden events: envelopes serialized by earlier code must still read the same with today's code.

tests/golden/events/ holds, for every event type and schema version the catalog has ever
registered, ``<type>.v<N>.bin`` (the envelope as a producer serialized it) and
``<type>.v<N>.json`` (what it said), written once by tests/golden/make_golden_events.py.
A change to the envelope or a payload that would misread events already in the streams
fails here, and so does an event type or version registered without its golden.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import read_event

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "events"


def golden_events() -> list[Path]:
    return sorted(GOLDEN.glob("*.bin"))


def test_every_registered_event_type_and_version_has_a_golden_event() -> None:
    missing = [
        f"{spec.event_type}.v{version}"
        for spec in REGISTRY.specs()
        for version in range(1, spec.version + 1)
        if not all((GOLDEN / f"{spec.event_type}.v{version}{suffix}").is_file() for suffix in (".bin", ".json"))
    ]
    assert not missing, (
        f"no golden event for {', '.join(missing)}: add an example payload to "
        "tests/golden/make_golden_events.py, run it and commit what it wrote"
    )


@pytest.mark.parametrize("path", golden_events(), ids=lambda path: path.stem)
def test_a_golden_event_reads_as_it_was_written(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text())

    event = read_event("golden", 0, 0, path.read_bytes())

    assert f"{event.event_type}.v{event.envelope.schema_version}" == path.stem
    assert json_format.MessageToDict(event.envelope, preserving_proto_field_name=True) == expected
    # The payload reaches consumers as the current message of its type, upcast if it is older.
    spec = REGISTRY.spec(event.event_type)
    assert isinstance(event.payload, spec.message)
    if event.envelope.schema_version == spec.version:
        written = {k: v for k, v in expected["payload"].items() if k != "@type"}
        assert json_format.MessageToDict(event.payload, preserving_proto_field_name=True) == written
