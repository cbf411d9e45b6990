from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from gateway_service.idempotency.middleware import redacted
from gateway_service.rate_limit.store import PERIOD_US, bucket_budget, from_us, interval_us, to_us

NOW = datetime(2026, 3, 1, 13, 59, 59, 250_000, tzinfo=UTC)


def test_one_request_costs_an_hour_divided_by_the_capacity_rounded_up() -> None:
    assert interval_us(3600) == 1_000_000  # Hetzner's default: one request a second
    assert interval_us(5) == 720_000_000
    assert interval_us(7) == 514_285_715  # never refills faster than capacity per hour
    assert 7 * interval_us(7) >= PERIOD_US
    assert from_us(to_us(NOW)) == NOW


def test_a_full_bucket_has_its_capacity_left_and_is_full_now() -> None:
    budget = bucket_budget(3600, to_us(NOW) - 10, to_us(NOW))
    assert budget.headers() == {
        "RateLimit-Limit": "3600",
        "RateLimit-Remaining": "3600",
        "RateLimit-Reset": str(int(NOW.timestamp()) + 1),  # the current second, rounded up
    }
    assert not budget.exceeded


def test_the_reset_is_when_the_bucket_is_full_again_and_remaining_what_fits_until_then() -> None:
    now = to_us(NOW)
    # Five requests of a 3,600/h bucket: full again five seconds from now, 3,595 left.
    budget = bucket_budget(3600, now + 5 * interval_us(3600), now)
    assert budget.remaining == 3595
    assert budget.full_at == NOW + timedelta(seconds=5)
    assert budget.headers()["RateLimit-Reset"] == str(int(NOW.timestamp()) + 6)
    # A 5/h bucket after all five: full in an hour, none left, the first back in 12 minutes.
    spent = bucket_budget(5, now + PERIOD_US, now, refused=True)
    assert spent.remaining == 0 and spent.exceeded
    assert spent.retry_after == 12 * 60
    assert spent.headers()["Retry-After"] == "720"
    assert spent.headers()["RateLimit-Reset"] == str(int((NOW + timedelta(hours=1)).timestamp()) + 1)


def test_retry_after_is_at_least_one_second() -> None:
    now = to_us(NOW)
    # The next request refills in 0.2 s: Retry-After rounds up.
    almost = bucket_budget(3600, now + PERIOD_US - 800_000, now, refused=True)
    assert almost.retry_after == 1


def test_a_stored_answer_holds_null_in_place_of_a_secret() -> None:
    body = json.dumps({"api_key": {"id": 1}, "secret": "s3cr3t"}).encode()
    assert json.loads(redacted(body, ["secret"])) == {"api_key": {"id": 1}, "secret": None}
    assert redacted(body, []) == body
    assert redacted(b"not json", ["secret"]) == b"not json"
