from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway_service.idempotency.middleware import redacted
from gateway_service.rate_limit.store import WINDOW, Budget, window_start


def test_the_window_starts_on_the_hour_in_utc() -> None:
    assert window_start(datetime(2026, 3, 1, 13, 59, 59, 999, tzinfo=UTC)) == datetime(2026, 3, 1, 13, tzinfo=UTC)


def test_the_budget_counts_down_to_zero_and_is_exceeded_past_the_limit() -> None:
    resets = datetime(2026, 3, 1, 14, tzinfo=UTC)
    assert Budget(limit=5, used=5, resets_at=resets).headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(int(resets.timestamp())),
    }
    assert not Budget(limit=5, used=5, resets_at=resets).exceeded
    assert Budget(limit=5, used=6, resets_at=resets).exceeded
    assert Budget(limit=5, used=9, resets_at=resets).remaining == 0
    assert WINDOW.total_seconds() == 3600


def test_a_stored_answer_holds_null_in_place_of_a_secret() -> None:
    body = json.dumps({"api_key": {"id": 1}, "secret": "s3cr3t"}).encode()
    assert json.loads(redacted(body, ["secret"])) == {"api_key": {"id": 1}, "secret": None}
    assert redacted(body, []) == body
    assert redacted(b"not json", ["secret"]) == b"not json"
