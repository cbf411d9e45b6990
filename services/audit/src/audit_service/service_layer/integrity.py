"""Verification, digests and retention of the audit log (``cloudctl audit verify|digest|prune``,
and the keeper's rounds). The hash-chain rules are the domain's (domain/chain.py,
domain/verification.py); the chains are read and written through the ChainStore port."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from audit_service.domain.verification import Report, latest_verified_digest, verified_anchors, verify_chain
from audit_service.service_layer.ports import ChainStore


def verify(store: ChainStore, key: bytes) -> Report:
    """Every chain recomputed from its start or its retention anchor, and checked against the
    latest digest whose signature verifies."""
    report = Report()
    with store.reader() as chains:
        anchors = verified_anchors(key, chains.anchors(), report)
        digest = latest_verified_digest(key, chains.digests_newest_first(), report)
        pinned: dict[str, list[Any]] = dict(digest["heads"]) if digest else {}
        report.digest_id = int(digest["id"]) if digest else None
        for chain in sorted(chains.chain_ids() | set(pinned)):
            report.chains += 1
            verify_chain(key, chain, chains.rows(chain), anchors.get(chain), pinned.get(chain), report)
    return report


def create_digest(store: ChainStore, key: bytes, now: datetime) -> int | None:
    """Sign every chain's head; None when nothing moved since the latest digest."""
    return store.sign_heads(key, now)


def prune(store: ChainStore, key: bytes, now: datetime, retention: timedelta) -> int:
    """Delete rows older than ``retention``, a prefix of each chain at a time, leaving a signed
    anchor at the last row removed so the rest of the chain still verifies. Rows deleted."""
    return store.prune(key, now, retention)
