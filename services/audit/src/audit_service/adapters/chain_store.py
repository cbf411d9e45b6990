"""The audit log's chains in MariaDB, for verification, digests and retention: the rows of a
chain a page at a time, the anchors and digests, and the two writes (a signed digest of the
heads, pruning with an anchor) that each run in their own transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from audit_service.adapters.tables import audit_anchors, audit_digests, audit_logs
from audit_service.domain.chain import key_id, sign

PAGE = 5000


class ChainReader:
    """The reads of one verification, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def chain_ids(self) -> set[str]:
        return set(self._conn.execute(sa.select(audit_logs.c.chain_id).distinct()).scalars())

    def anchors(self) -> Iterator[dict[str, Any]]:
        for anchor in self._conn.execute(sa.select(audit_anchors)).mappings():
            yield dict(anchor)

    def digests_newest_first(self) -> Iterator[dict[str, Any]]:
        for digest in self._conn.execute(sa.select(audit_digests).order_by(audit_digests.c.id.desc())).mappings():
            yield dict(digest)

    def rows(self, chain: str) -> Iterator[dict[str, Any]]:
        """A chain's rows in chain order, a page at a time."""
        last_seq, last_id = -1, 0
        while True:
            page = (
                self._conn.execute(
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


class SqlChainStore:
    """The chains of one audit database (the ports' ChainStore)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def reader(self) -> Iterator[ChainReader]:
        with self._engine.connect() as conn:
            yield ChainReader(conn)

    def sign_heads(self, key: bytes, now: datetime) -> int | None:
        """Sign every chain's head; None when nothing moved since the latest digest."""
        with self._engine.begin() as conn:
            current = heads(conn)
            # Chains emptied by retention keep their pinned head through their anchor.
            for anchor in conn.execute(sa.select(audit_anchors)).mappings():
                current.setdefault(str(anchor["chain_id"]), [int(anchor["chain_seq"]), str(anchor["row_hash"])])
            latest = conn.execute(
                sa.select(audit_digests.c.heads).order_by(audit_digests.c.id.desc()).limit(1)
            ).scalar()
            if not current or latest == current:
                return None
            result = conn.execute(
                audit_digests.insert().values(
                    created_at=now.replace(tzinfo=None), heads=current, key_id=key_id(key), signature=sign(key, current)
                )
            )
            inserted = result.inserted_primary_key
            return int(inserted[0]) if inserted else None

    def prune(self, key: bytes, now: datetime, retention: timedelta) -> int:
        """Delete rows older than ``retention``, a prefix of each chain at a time, leaving a signed
        anchor at the last row removed so the rest of the chain still verifies. Rows deleted."""
        cutoff = (now - retention).replace(tzinfo=None)
        deleted = 0
        with self._engine.begin() as conn:
            chains = list(conn.execute(sa.select(audit_logs.c.chain_id).distinct()).scalars())
        for chain in chains:
            with self._engine.begin() as conn:
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
