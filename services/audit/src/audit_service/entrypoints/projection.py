"""The audit projection: every event of every stream, once, appended to its partition's chain.

Run by the generic consumer (``python -m cpshared.events.consumer_main
audit_service.entrypoints.projection:from_environment``) and by replays (``cloudctl replay
audit_service.entrypoints.projection:from_environment --compare``). Effectively once like every
projection (cpshared.events.projection): the row and the event's inbox row commit together.

Within a transaction the projection keeps the heads of the chains it touched in
``ctx.state``: the first event of a chain reads (and locks) the chain's head row, each event
advances the head in memory, and ``before_commit`` writes every moved head once. A rollback
drops the rows and the moved heads together, so a head is never ahead of or behind its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from audit_service.adapters.tables import audit_chain_heads, audit_logs
from audit_service.config import AuditKeySettings
from audit_service.domain.chain import GENESIS, chain_of, row_hash
from audit_service.domain.records import audit_row
from cpshared.events.catalog import REGISTRY
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.projection import ApplyContext, Projection
from cpshared.settings import load_settings
from cpshared.topics import SERVICE_STREAMS, Topic

HEADS = "audit_heads"
MOVED = "audit_moved"
SKIPPED_EVENT_TYPES = frozenset({"ops.canary_emitted"})
"""Pipeline checks (cloudctl canary), not anything anybody did."""


class AuditProjection(Projection):
    name = "audit"
    topics: ClassVar[tuple[Topic, ...]] = tuple(dict.fromkeys(SERVICE_STREAMS.values()))
    tables = (audit_logs, audit_chain_heads)
    # Row ids are numbered by the database: a replay may number them otherwise.
    volatile_columns: ClassVar[dict[str, tuple[str, ...]]] = {"audit_logs": ("id",)}

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the audit signing key must be at least 32 bytes")
        self.key = key

    def handlers(self) -> dict[str, Callable[[ApplyContext, ReceivedEvent], None]]:
        return {spec.event_type: self.append for spec in REGISTRY.specs() if spec.event_type not in SKIPPED_EVENT_TYPES}

    def append(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        chain = chain_of(event.topic, event.partition)
        seq, prev = self._head(ctx, chain)
        row: dict[str, Any] = audit_row(event) | {"chain_id": chain, "chain_seq": seq + 1, "prev_hash": prev}
        row["row_hash"] = row_hash(self.key, prev, row)
        ctx.insert("audit_logs", row)
        ctx.state[HEADS][chain] = (seq + 1, row["row_hash"])
        ctx.state.setdefault(MOVED, set()).add(chain)

    def _head(self, ctx: ApplyContext, chain: str) -> tuple[int, str]:
        heads: dict[str, tuple[int, str]] = ctx.state.setdefault(HEADS, {})
        if chain not in heads:
            table = ctx.table("audit_chain_heads")
            found = ctx.execute(
                sa.select(table.c.chain_seq, table.c.row_hash).where(table.c.chain_id == chain).with_for_update()
            ).one_or_none()
            heads[chain] = (int(found.chain_seq), str(found.row_hash)) if found else (0, GENESIS)
        return heads[chain]

    def before_commit(self, ctx: ApplyContext) -> None:
        moved: set[str] = ctx.state.get(MOVED, set())
        if not moved:
            return
        table = ctx.table("audit_chain_heads")
        rows = [{"chain_id": c, "chain_seq": ctx.state[HEADS][c][0], "row_hash": ctx.state[HEADS][c][1]} for c in moved]
        upsert = mysql.insert(table).values(rows)
        ctx.execute(
            upsert.on_duplicate_key_update(chain_seq=upsert.inserted.chain_seq, row_hash=upsert.inserted.row_hash)
        )
        moved.clear()


def from_environment() -> AuditProjection:
    """The projection with the signing key named by ``CP_AUDIT_SIGNING_KEY_FILE``."""
    return AuditProjection(load_settings(AuditKeySettings).signing_key())
