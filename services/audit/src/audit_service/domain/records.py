"""From an event to the audit row that records it: who, what, on which resource, from where.

- A domain event (``api_key.created``, ``user.suspended`` ...): the action is its type, the
  resource its aggregate (type, and id when numeric), the actor (user, organization, API key,
  address, user agent, request id) from the envelope; the organization falls back to the
  payload's ``organization_id`` so an organization's own events are found under it, and
  without a signed-in actor the user falls back to the user the event is about (sign-ins). The
  payload becomes ``new_values``, its ``old_*`` fields ``old_values``.
- The gateway's ``request.completed``: action ``request``, with the status and duration, the
  caller and the route; its request id links it to the events the call caused.

Nothing secret is in an event by design; any field whose name says it could be (a password,
a secret, a token, a code) is replaced by ``[redacted]`` all the same.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from cpshared.events.envelope import ReceivedEvent

REQUEST_EVENT = "request.completed"
REQUEST_ACTION = "request"
REQUEST_FIELDS = ("method", "route", "path", "idempotent_replay", "rate_limited")
REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"password|secret|token|recovery|totp|otp|key_hash|^codes?$", re.IGNORECASE)
MAX_BIGINT = 2**63 - 1


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_NAME.search(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def occurred_at(event: ReceivedEvent) -> datetime:
    """When the event happened, naive UTC to the microsecond (as DATETIME(6) keeps it)."""
    stamp = event.envelope.occurred_at
    when = datetime.fromtimestamp(stamp.seconds, UTC).replace(microsecond=stamp.nanos // 1000)
    return when.replace(tzinfo=None)


def _numeric(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) <= MAX_BIGINT else None


def _positive(value: int) -> int | None:
    return value if value > 0 else None


def audit_row(event: ReceivedEvent) -> dict[str, Any]:
    """The audit row of ``event``, without its chain position and hashes."""
    envelope = event.envelope
    values = MessageToDict(event.payload, preserving_proto_field_name=True, always_print_fields_with_no_presence=False)
    actor = envelope.actor
    row: dict[str, Any] = {
        "event_id": bytes.fromhex(envelope.event_id.replace("-", "")),
        "event_type": envelope.event_type,
        "stream": event.topic,
        "created_at": occurred_at(event),
        "response_code": None,
        "duration_ms": None,
        "old_values": None,
    }
    if envelope.event_type == REQUEST_EVENT:
        request = values
        row |= {
            "action": REQUEST_ACTION,
            "resource_type": "request",
            "resource_id": None,
            "user_id": _positive(int(request.get("user_id", 0))),
            "organization_id": _positive(int(request.get("organization_id", 0))),
            "api_key_id": _positive(int(request.get("api_key_id", 0))),
            "ip_address": (request.get("ip") or None),
            "user_agent": (request.get("user_agent") or None),
            "request_id": (request.get("request_id") or envelope.correlation_id or "")[:36] or None,
            "response_code": int(request.get("status", 0)) or None,
            "duration_ms": int(request.get("duration_ms", 0)),
            "new_values": redact(
                {
                    k: request[k]
                    for k in ("method", "route", "path", "idempotent_replay", "rate_limited")
                    if k in request
                }
            ),
        }
        return row
    old = {k: v for k, v in values.items() if k.startswith("old_")}
    new = {k: v for k, v in values.items() if not k.startswith("old_")}
    organization = actor.organization_id or int(values.get("organization_id", 0) or 0)
    # No signed-in actor (a sign-in attempt, a sign-up, the platform itself): the entry is about
    # the user the event names, so it is found under that user (their login activity).
    subject = int(values.get("user_id", 0) or 0)
    if not subject and envelope.aggregate_type == "user":
        subject = _numeric(envelope.aggregate_id) or 0
    row |= {
        "action": envelope.event_type[:255],
        "resource_type": envelope.aggregate_type[:50] or None,
        "resource_id": _numeric(envelope.aggregate_id),
        "user_id": _positive(actor.user_id or subject),
        "organization_id": _positive(organization),
        "api_key_id": _positive(actor.api_key_id),
        "ip_address": actor.ip[:45] or None,
        "user_agent": actor.user_agent or None,
        "request_id": (actor.request_id or envelope.correlation_id or "")[:36] or None,
        "old_values": redact(old) if old else None,
        "new_values": redact(new),
    }
    return row
