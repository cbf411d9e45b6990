"""Verifying the audit log's hash chains: what a tampered chain looks like, named.

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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit_service.domain.chain import GENESIS, row_hash, verify_signature


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


def anchor_document(anchor: Mapping[str, Any]) -> dict[str, Any]:
    """What a retention anchor's signature covers."""
    return {"chain_id": anchor["chain_id"], "chain_seq": int(anchor["chain_seq"]), "row_hash": anchor["row_hash"]}


def verified_anchors(key: bytes, anchors: Iterator[Mapping[str, Any]], report: Report) -> dict[str, tuple[int, str]]:
    """Each chain's retention anchor (position, hash) whose signature verifies; forged ones are findings."""
    found: dict[str, tuple[int, str]] = {}
    for anchor in anchors:
        if not verify_signature(key, anchor_document(anchor), anchor["signature"]):
            report.findings.append(
                Finding(anchor["chain_id"], "forged", "the retention anchor's signature does not verify")
            )
            continue
        found[anchor["chain_id"]] = (int(anchor["chain_seq"]), str(anchor["row_hash"]))
    return found


def latest_verified_digest(
    key: bytes, digests_newest_first: Iterator[Mapping[str, Any]], report: Report
) -> Mapping[str, Any] | None:
    """The newest digest whose signature verifies; forged ones are findings."""
    for digest in digests_newest_first:
        if verify_signature(key, digest["heads"], digest["signature"]):
            return digest
        report.findings.append(Finding("*", "forged", f"digest {digest['id']}'s signature does not verify"))
    return None


def verify_chain(
    key: bytes,
    chain: str,
    rows: Iterator[Mapping[str, Any]],
    anchor: tuple[int, str] | None,
    pinned: Sequence[Any] | None,
    report: Report,
) -> None:
    """Walk one chain's ``rows`` (in chain order) from its start or its retention ``anchor``,
    recomputing each row's HMAC and link, and check the head a signed digest ``pinned``;
    every problem found is added to ``report``."""
    seq, prev = (anchor[0], anchor[1]) if anchor else (0, GENESIS)
    prev_id: int | None = None
    seen_pinned = pinned is None
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
