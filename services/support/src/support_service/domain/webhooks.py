"""Signed webhooks: what support POSTs to a URL an alert rule names, and how the receiver checks it.

The body is the notice as canonical JSON (sorted keys, UTF-8): ``{"id", "type", "occurred_at",
"data"}``, ``id`` being the delivery's (the same on every retry, so a receiver can drop a repeat).
The header ``X-CloudPlatform-Signature: sha256=<hex>`` is HMAC-SHA256 of exactly those bytes
under the account's webhook secret (a user's own, or the organization's, for the rule's owner):
a receiver recomputes it over the raw body and compares in constant time. Only ``http`` and
``https`` URLs with a host are ever called; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any, Final
from urllib.parse import urlsplit

SIGNATURE_HEADER: Final = "X-CloudPlatform-Signature"
EVENT_HEADER: Final = "X-CloudPlatform-Event"
DELIVERY_HEADER: Final = "X-CloudPlatform-Delivery"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_URL: Final = 2048


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, hex, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_hex(32)


def body(delivery_id: str, event_type: str, occurred_at: str, data: dict[str, Any]) -> bytes:
    """The bytes POSTed (and signed): canonical JSON of the notice."""
    document = {"id": delivery_id, "type": event_type, "occurred_at": occurred_at, "data": data}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, content: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``content``."""
    return "sha256=" + hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()


def verify(secret: str, content: bytes, header: str) -> bool:
    """What a receiver does: recompute over the raw body, compare in constant time."""
    return hmac.compare_digest(signature(secret, content), header or "")


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a webhook target (None: it is): http(s), a host, no spaces, not too long."""
    if not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return "a webhook URL is an http:// or https:// URL of at most 2048 characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("http", "https"):
        return f"only http:// and https:// webhook URLs are called, not {parts.scheme or 'none'}://"
    if not host:
        return "a webhook URL names a host"
    return None
