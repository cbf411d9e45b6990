"""Verification, digests and retention of the audit log (``cloudctl audit verify|digest|prune``).

``verify`` walks every chain from its start (or from its retention anchor) and recomputes each
row's HMAC and its link to the row before, then checks the latest valid digest against the
chains. What it can tell, and how it names it (row = ``audit_logs.id``):

- a row whose content changed: its HMAC no longer verifies ("altered");
- a row that was added: its HMAC does not verify and the chain goes on without it, or it
  takes a place another row holds ("inserted");
- rows that were removed from inside a chain: a gap in the sequence ("deleted", naming the
  missing positions and the rows around them); from a chain's end: the chain stops short of
  the head a signed digest pinned ("deleted", the positions after the last row left);
- a digest or an anchor whose signature does not verify ("forged").

Without the key none of this can be faked: rows and digests are HMACs with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from audit_service.adapters.tables import audit_anchors, audit_digests, audit_logs
from audit_service.domain.chain import GENESIS, key_id, row_hash, sign, verify_signature

PAGE = 5000


@dataclass(frozen=True)
class Finding:
    chain_id: str
    problem: str
    """altered, inserted, deleted, forged"""
    detail: str
    row_id: int | None = None

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else self.chain_id
        return f"{self.problem}: {where} ({self.chain_id}): {self.detail}"


@dataclass
class Report:
    chains: int = 0
    rows: int = 0
    digest_id: int | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def _rows(conn: Connection, chain: str) -> Iterator[dict[str, Any]]:
    """A chain's rows in chain order, a page at a time."""
    last_seq, last_id = -1, 0
    while True:
        page = (
            conn.execute(
                sa.select(audit_logs)
                .where(
                    audit_logs.c.chain_id == chain,
                    sa.tuple_(audit_logs.c.chain_seq, audit_logs.c.id) > sa.tuple_(last_seq, last_id),
                )
                .order_by(audit_logs.c.chain_seq, audit_logs.c.id)
                .limit(PAGE)
            )
            .mappings()
            .all()
        )
        if not page:
            return
        for row in page:
            yield dict(row)
        last_seq, last_id = int(page[-1]["chain_seq"]), int(page[-1]["id"])


def _anchors(conn: Connection, key: bytes, report: Report) -> dict[str, tuple[int, str]]:
    anchors: dict[str, tuple[int, str]] = {}
    for anchor in conn.execute(sa.select(audit_anchors)).mappings():
        document = {
            "chain_id": anchor["chain_id"],
            "chain_seq": int(anchor["chain_seq"]),
            "row_hash": anchor["row_hash"],
        }
        if not verify_signature(key, document, anchor["signature"]):
            report.findings.append(
                Finding(anchor["chain_id"], "forged", "the retention anchor's signature does not verify")
            )
            continue
        anchors[anchor["chain_id"]] = (int(anchor["chain_seq"]), str(anchor["row_hash"]))
    return anchors


def _latest_digest(conn: Connection, key: bytes, report: Report) -> dict[str, Any] | None:
    """The newest digest whose signature verifies; forged ones are findings."""
    for digest in conn.execute(sa.select(audit_digests).order_by(audit_digests.c.id.desc())).mappings():
        if verify_signature(key, digest["heads"], digest["signature"]):
            return dict(digest)
        report.findings.append(Finding("*", "forged", f"digest {digest['id']}'s signature does not verify"))
    return None


def verify(engine: Engine, key: bytes) -> Report:
    report = Report()
    with engine.connect() as conn:
        anchors = _anchors(conn, key, report)
        digest = _latest_digest(conn, key, report)
        pinned: dict[str, list[Any]] = dict(digest["heads"]) if digest else {}
        report.digest_id = int(digest["id"]) if digest else None
        chains = set(conn.execute(sa.select(audit_logs.c.chain_id).distinct()).scalars()) | set(pinned)
        for chain in sorted(chains):
            report.chains += 1
            _verify_chain(conn, key, chain, anchors.get(chain), pinned.get(chain), report)
    return report


def _verify_chain(
    conn: Connection,
    key: bytes,
    chain: str,
    anchor: tuple[int, str] | None,
    pinned: list[Any] | None,
    report: Report,
) -> None:
    seq, prev = (anchor[0], anchor[1]) if anchor else (0, GENESIS)
    prev_id: int | None = None
    seen_pinned = pinned is None
    rows = _rows(conn, chain)
    pending = next(rows, None)
    while pending is not None:
        row, pending = pending, next(rows, None)
        report.rows += 1
        position = int(row["chain_seq"])
        authentic = row_hash(key, str(row["prev_hash"]), row) == row["row_hash"]
        if position <= seq:
            report.findings.append(
                Finding(chain, "inserted", f"it takes position {position}, which the chain has already", row["id"])
            )
            continue
        if not authentic:
            skipped = pending is not None and pending["prev_hash"] == prev and int(pending["chain_seq"]) == position
            if skipped or position != seq + 1:
                report.findings.append(
                    Finding(chain, "inserted", "its HMAC does not verify and the chain goes on without it", row["id"])
                )
                continue
            report.findings.append(
                Finding(chain, "altered", f"position {position}: its content no longer matches its HMAC", row["id"])
            )
        elif position > seq + 1:
            report.findings.append(
                Finding(
                    chain,
                    "deleted",
                    f"positions {seq + 1}..{position - 1} are missing "
                    f"(between row {prev_id if prev_id is not None else 'start'} and row {row['id']})",
                )
            )
        elif row["prev_hash"] != prev:
            report.findings.append(
                Finding(
                    chain, "altered", "its link to the row before does not match (that row was replaced)", row["id"]
                )
            )
        if pinned is not None and position == int(pinned[0]):
            seen_pinned = True
            if row["row_hash"] != pinned[1]:
                report.findings.append(
                    Finding(chain, "altered", "the row the latest digest pins has another hash", row["id"])
                )
        seq, prev, prev_id = position, str(row["row_hash"]), int(row["id"])
    if pinned is not None and not seen_pinned and seq < int(pinned[0]):
        report.findings.append(
            Finding(
                chain,
                "deleted",
                f"positions {seq + 1}..{int(pinned[0])} are missing at the chain's end "
                f"(after row {prev_id if prev_id is not None else 'none'}; "
                f"the latest digest pins position {pinned[0]})",
            )
        )


def heads(conn: Connection) -> dict[str, list[Any]]:
    """Each chain's last position and its hash, from the log itself."""
    last = (
        sa.select(audit_logs.c.chain_id, sa.func.max(audit_logs.c.chain_seq).label("seq"))
        .group_by(audit_logs.c.chain_id)
        .subquery()
    )
    query = sa.select(audit_logs.c.chain_id, audit_logs.c.chain_seq, audit_logs.c.row_hash).join(
        last, sa.and_(audit_logs.c.chain_id == last.c.chain_id, audit_logs.c.chain_seq == last.c.seq)
    )
    return {str(r.chain_id): [int(r.chain_seq), str(r.row_hash)] for r in conn.execute(query)}


def create_digest(engine: Engine, key: bytes, now: datetime) -> int | None:
    """Sign every chain's head; None when nothing moved since the latest digest."""
    with engine.begin() as conn:
        current = heads(conn)
        # Chains emptied by retention keep their pinned head through their anchor.
        for anchor in conn.execute(sa.select(audit_anchors)).mappings():
            current.setdefault(str(anchor["chain_id"]), [int(anchor["chain_seq"]), str(anchor["row_hash"])])
        latest = conn.execute(sa.select(audit_digests.c.heads).order_by(audit_digests.c.id.desc()).limit(1)).scalar()
        if not current or latest == current:
            return None
        result = conn.execute(
            audit_digests.insert().values(
                created_at=now.replace(tzinfo=None), heads=current, key_id=key_id(key), signature=sign(key, current)
            )
        )
        inserted = result.inserted_primary_key
        return int(inserted[0]) if inserted else None


def prune(engine: Engine, key: bytes, now: datetime, retention: timedelta) -> int:
    """Delete rows older than ``retention``, a prefix of each chain at a time, leaving a signed
    anchor at the last row removed so the rest of the chain still verifies. Rows deleted."""
    cutoff = (now - retention).replace(tzinfo=None)
    deleted = 0
    with engine.begin() as conn:
        chains = list(conn.execute(sa.select(audit_logs.c.chain_id).distinct()).scalars())
    for chain in chains:
        with engine.begin() as conn:
            first_kept = conn.execute(
                sa.select(sa.func.min(audit_logs.c.chain_seq)).where(
                    audit_logs.c.chain_id == chain, audit_logs.c.created_at >= cutoff
                )
            ).scalar()
            last_seq = conn.execute(
                sa.select(sa.func.max(audit_logs.c.chain_seq)).where(audit_logs.c.chain_id == chain)
            ).scalar()
            through = (int(first_kept) - 1) if first_kept is not None else int(last_seq or 0)
            boundary = conn.execute(
                sa.select(audit_logs.c.row_hash).where(
                    audit_logs.c.chain_id == chain, audit_logs.c.chain_seq == through
                )
            ).scalar()
            if through < 1 or boundary is None:
                continue
            document = {"chain_id": chain, "chain_seq": through, "row_hash": str(boundary)}
            anchor = mysql.insert(audit_anchors).values(
                **document, pruned_at=now.replace(tzinfo=None), key_id=key_id(key), signature=sign(key, document)
            )
            conn.execute(
                anchor.on_duplicate_key_update(
                    chain_seq=anchor.inserted.chain_seq,
                    row_hash=anchor.inserted.row_hash,
                    pruned_at=anchor.inserted.pruned_at,
                    key_id=anchor.inserted.key_id,
                    signature=anchor.inserted.signature,
                )
            )
            result = conn.execute(
                audit_logs.delete().where(audit_logs.c.chain_id == chain, audit_logs.c.chain_seq <= through)
            )
            deleted += int(result.rowcount)
    return deleted
