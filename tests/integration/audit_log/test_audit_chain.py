"""The audit projection on the real MariaDB: one row per event with its actor and request,
chains that verify, and a tampered row (altered, deleted, inserted) named by ``verify``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from audit_service.adapters.chain_store import SqlChainStore
from audit_service.adapters.tables import audit_anchors, audit_chain_heads, audit_logs
from audit_service.domain.records import redact
from audit_service.service_layer.integrity import create_digest, prune, verify
from cloudctl.audit_cli import run_audit_command
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.clock import ManualClock, set_clock
from cpshared.db import make_engine
from cpshared.events.envelope import PendingEvent
from cpshared.events.projection import ProjectionRunner, RawRecord
from cpshared.migrations import migrations_dir, upgrade
from cpshared.topics import Topic, TopicKind
from tests.integration.audit_log.support import KEY, api_call, scratch_audit

EVENTS = Topic(name="test.audit.identity", kind=TopicKind.DOMAIN, partitions=3)
REQUESTS = Topic(name="test.audit.requests", kind=TopicKind.DOMAIN, partitions=3)


@pytest.fixture
def engine(paths: LocalPaths) -> Iterator[Engine]:
    with MariaDB(paths.root).scratch_database("cp_test_al") as url:
        upgrade("audit", migrations_dir("audit"), url)
        engine = make_engine(url, pool_size=4)
        try:
            yield engine
        finally:
            engine.dispose()


def records(events: list[PendingEvent]) -> list[RawRecord]:
    """As Kafka would hand them over: each stream's events spread over its partitions by key."""
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for event in events:
        partition = sum(event.key) % 3
        offset = offsets.get((event.topic.name, partition), 0)
        offsets[(event.topic.name, partition)] = offset + 1
        value = event.envelope.SerializeToString()
        out.append(RawRecord(event.topic.name, partition, offset, event.key, value, event.headers()))
    return out


def calls(count: int) -> list[PendingEvent]:
    return [e for n in range(count) for e in api_call(40 + n % 3, 900 + n, EVENTS, REQUESTS, n)]


def apply(engine: Engine, events: list[PendingEvent], batch: int = 50) -> None:
    runner = ProjectionRunner(engine, scratch_audit(EVENTS, "audit-test"))
    raw = records(events)
    for start in range(0, len(raw), batch):
        runner.apply_batch(raw[start : start + batch])


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_logs).order_by(audit_logs.c.id)).mappings()]


def test_each_event_is_one_row_with_its_actor_linked_to_its_request_record(engine: Engine) -> None:
    events = calls(20)
    apply(engine, events)
    apply(engine, events)  # delivered again: recorded once
    found = rows(engine)
    assert len(found) == len(events) == 60
    by_request: dict[object, list[dict[str, object]]] = {}
    for row in found:
        by_request.setdefault(row["request_id"], []).append(row)
    assert len(by_request) == 20
    for linked in by_request.values():
        actions = sorted(str(r["action"]) for r in linked)
        assert actions == ["api_key.created", "organization.member_role_changed", "request"]
        request = next(r for r in linked if r["action"] == "request")
        assert (request["response_code"], request["duration_ms"]) == (201, 12)
        assert request["new_values"]["route"] == "/v1/api_keys"  # type: ignore[index]
        for row in linked:
            assert row["ip_address"] == "203.0.113.7" and row["user_agent"] == "hcloud-python/2.5"
            assert row["user_id"] in (40, 41, 42) and row["api_key_id"] is not None
    role: dict[str, Any] = next(r for r in found if r["action"] == "organization.member_role_changed")
    assert role["organization_id"] == 7 and role["resource_type"] == "organization" and role["resource_id"] == 7
    assert role["old_values"] == {"old_role": "member"}
    assert role["new_values"]["new_role"] == "admin"
    # Every chain is numbered 1, 2, ... and its head row says where it ends.
    with engine.connect() as conn:
        heads = {r.chain_id: r.chain_seq for r in conn.execute(sa.select(audit_chain_heads))}
    for chain, head in heads.items():
        positions = sorted(int(r["chain_seq"]) for r in found if r["chain_id"] == chain)  # type: ignore[call-overload]
        assert positions == list(range(1, head + 1))
    report = verify(SqlChainStore(engine), KEY)
    assert report.intact, [str(f) for f in report.findings]
    assert report.rows == 60 and report.chains == len(heads)


def test_cloudctl_audit_runs_the_audit_services_own_commands_and_verify_names_a_tampered_row(
    engine: Engine, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    apply(engine, calls(10))
    url = engine.url.render_as_string(hide_password=False)
    key_file = tmp_path / "audit.key"
    key_file.write_text(base64.b64encode(KEY).decode())

    assert run_audit_command(["digest"], url, key_file) == 0
    assert run_audit_command(["verify"], url, key_file) == 0
    assert "30 rows in" in capfd.readouterr().out

    target = _middle(engine)
    with engine.begin() as conn:
        conn.execute(audit_logs.update().where(audit_logs.c.id == target["id"]).values(ip_address="198.51.100.66"))
    assert run_audit_command(["verify"], url, key_file) == 1
    out = capfd.readouterr().out
    assert f"altered: row {target['id']}" in out and "intact" not in out


def test_anything_that_looks_like_a_secret_is_redacted() -> None:
    values = {"password": "x", "nested": {"refresh_token": "y", "name": "kept"}, "response_code": 201, "codes": ["a"]}
    assert redact(values) == {
        "password": "[redacted]",
        "nested": {"refresh_token": "[redacted]", "name": "kept"},
        "response_code": 201,
        "codes": "[redacted]",
    }


def _middle(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        chain = conn.execute(
            sa.select(audit_chain_heads.c.chain_id).order_by(audit_chain_heads.c.chain_seq.desc())
        ).scalar()
        row = (
            conn.execute(sa.select(audit_logs).where(audit_logs.c.chain_id == chain, audit_logs.c.chain_seq == 3))
            .mappings()
            .one()
        )
    return dict(row)


def test_an_altered_row_is_named(engine: Engine) -> None:
    apply(engine, calls(10))
    target = _middle(engine)
    with engine.begin() as conn:
        conn.execute(audit_logs.update().where(audit_logs.c.id == target["id"]).values(ip_address="198.51.100.66"))
    findings = verify(SqlChainStore(engine), KEY).findings
    assert [(f.problem, f.row_id) for f in findings] == [("altered", target["id"])]


def test_a_deleted_row_is_named_by_its_position_and_neighbours(engine: Engine) -> None:
    apply(engine, calls(10))
    target = _middle(engine)
    with engine.begin() as conn:
        conn.execute(audit_logs.delete().where(audit_logs.c.id == target["id"]))
    findings = verify(SqlChainStore(engine), KEY).findings
    assert len(findings) == 1 and findings[0].problem == "deleted" and findings[0].chain_id == target["chain_id"]
    assert "positions 3..3 are missing" in findings[0].detail


def test_an_inserted_row_is_named(engine: Engine) -> None:
    apply(engine, calls(10))
    target = _middle(engine)
    forged = {k: v for k, v in target.items() if k != "id"} | {
        "event_id": b"\x01" * 16,
        "chain_seq": 999,
        "action": "user.erased",
        "row_hash": "f" * 64,
    }
    with engine.begin() as conn:
        new_id = conn.execute(audit_logs.insert().values(forged)).inserted_primary_key[0]  # type: ignore[index]
    findings = verify(SqlChainStore(engine), KEY).findings
    assert [(f.problem, f.row_id) for f in findings] == [("inserted", new_id)]


def test_rows_cut_off_a_chains_end_are_caught_by_the_digest(engine: Engine) -> None:
    apply(engine, calls(10))
    assert create_digest(SqlChainStore(engine), KEY, datetime.now(UTC)) is not None
    assert create_digest(SqlChainStore(engine), KEY, datetime.now(UTC)) is None  # nothing moved
    with engine.begin() as conn:
        chain, last = conn.execute(
            sa.select(audit_chain_heads.c.chain_id, audit_chain_heads.c.chain_seq).limit(1)
        ).one()
        conn.execute(audit_logs.delete().where(audit_logs.c.chain_id == chain, audit_logs.c.chain_seq >= last - 1))
    findings = verify(SqlChainStore(engine), KEY).findings
    assert len(findings) == 1 and findings[0].problem == "deleted" and findings[0].chain_id == chain
    assert f"positions {last - 1}..{last} are missing at the chain's end" in findings[0].detail


def test_a_forged_digest_is_named_and_a_wrong_key_verifies_nothing(engine: Engine) -> None:
    apply(engine, calls(5))
    create_digest(SqlChainStore(engine), KEY, datetime.now(UTC))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_digests SET signature = REPEAT('0', 64)"))
    assert [f.problem for f in verify(SqlChainStore(engine), KEY).findings] == ["forged"]
    assert len(verify(SqlChainStore(engine), b"another key of at least 32 bytes!").findings) >= 15


def test_pruning_old_entries_leaves_an_anchor_and_the_rest_verifiable(engine: Engine) -> None:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    previous = set_clock(clock)
    try:
        apply(engine, calls(10))  # recorded on 2025-01-01
        clock.advance(timedelta(days=300))
        apply(engine, [e for n in range(10, 14) for e in api_call(50, 950 + n, EVENTS, REQUESTS, n)])
    finally:
        set_clock(previous)
    create_digest(SqlChainStore(engine), KEY, datetime(2025, 11, 1, tzinfo=UTC))
    removed = prune(SqlChainStore(engine), KEY, datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=100))
    assert removed == 30
    assert len(rows(engine)) == 12
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_anchors)).scalar_one() >= 1
    report = verify(SqlChainStore(engine), KEY)
    assert report.intact, [str(f) for f in report.findings]
