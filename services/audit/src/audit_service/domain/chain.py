"""The audit log's hash chains: what a row's hash covers, how it is computed, how a key is named.

Each stream partition is one chain. Row n of a chain carries ``prev_hash`` (row n-1's
``row_hash``; 64 zeros for the first row) and ``row_hash`` = HMAC-SHA256(key, prev_hash ||
canonical(row)), where canonical(row) is the row's content as sorted-key JSON. Keyed, so that
whoever can write the database but does not hold the key cannot forge a row that verifies,
not even at a chain's end; chained, so that an altered, removed or inserted row breaks the
link to the next one. The signed digests (digests.py) pin each chain's head at intervals, so
rows cut off a chain's end are noticed too.

The canonical form is computed from the values as the database gives them back (ints, the
naive UTC datetime to the microsecond, JSON documents decoded), so it is the same when the
row is written and when it is verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

GENESIS = "0" * 64
"""The ``prev_hash`` of a chain's first row."""

HASHED_COLUMNS = (
    "chain_id",
    "chain_seq",
    "event_id",
    "event_type",
    "stream",
    "action",
    "user_id",
    "organization_id",
    "resource_type",
    "resource_id",
    "old_values",
    "new_values",
    "ip_address",
    "user_agent",
    "api_key_id",
    "request_id",
    "response_code",
    "duration_ms",
    "created_at",
)
"""Every column but the row id (a replay may number rows otherwise) and the two hashes."""


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return value


PLAIN_COLUMNS = tuple(c for c in HASHED_COLUMNS if c not in ("event_id", "created_at"))


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers: its hashed columns as compact JSON with sorted keys (orjson:
    UTF-8, no whitespace; this form is part of every stored hash, so it never changes). Only the
    event id (bytes, as hex) and the time (ISO 8601 to the microsecond) need converting."""
    content = {column: row.get(column) for column in PLAIN_COLUMNS}
    content["event_id"] = _plain(row.get("event_id"))
    content["created_at"] = _plain(row.get("created_at"))
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def row_hash(key: bytes, prev_hash: str, row: Mapping[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + canonical(row), hashlib.sha256).hexdigest()


def sign(key: bytes, document: Any) -> str:
    """HMAC-SHA256 of a JSON document (a digest's heads, an anchor), as hex."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(key: bytes, document: Any, signature: str) -> bool:
    return hmac.compare_digest(sign(key, document), signature)


def key_id(key: bytes) -> str:
    """A name for a key that does not reveal it: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def chain_of(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"
