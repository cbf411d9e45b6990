"""The outbox relay's pure parts: backoff, polling, lock names, headers, settings, start-up checks."""

from __future__ import annotations

import logging
import random

import pytest
import sqlalchemy as sa

from cpshared.events.relay import Backoff, kafka_headers, lock_name, next_poll_interval
from cpshared.events.relay_main import OutboxMissing, RelaySettings, RepeatedKafkaClientLogs, require_outbox
from cpshared.settings import required_env_variables


def test_backoff_grows_exponentially_up_to_the_cap_and_never_reaches_zero() -> None:
    backoff = Backoff(base=0.1, cap=5.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(30)]
    assert all(0.05 <= d <= 5.0 for d in delays)
    assert max(delays[:3]) <= 0.4  # ceilings 0.1, 0.2, 0.4
    assert max(delays[10:]) > 2.0  # the cap is reached, jitter spreads below it


def test_backoff_starts_small_again_after_a_success() -> None:
    backoff = Backoff(base=0.1, cap=5.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_a_full_batch_is_followed_at_once_and_an_idle_outbox_is_polled_less_and_less() -> None:
    assert next_poll_interval(1000, 1000, 0.05, 0.05, 0.5) == 0.0
    assert next_poll_interval(10, 1000, 0.4, 0.05, 0.5) == 0.05
    waits, current = [], 0.05
    for _ in range(6):
        current = next_poll_interval(0, 1000, current, 0.05, 0.5)
        waits.append(current)
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_the_relay_lock_is_per_database_and_fits_mariadbs_limit() -> None:
    assert lock_name("cp_compute") == "cp-outbox-relay:cp_compute"
    assert lock_name("cp_compute") != lock_name("cp_billing")
    long_names = {lock_name("x" * 64), lock_name("x" * 63 + "y")}
    assert len(long_names) == 2 and all(len(n) <= 64 for n in long_names)


def test_outbox_json_headers_become_kafka_headers() -> None:
    assert kafka_headers([["event-type", "server.created"], ["dlq-attempts", "3"]]) == [
        ("event-type", b"server.created"),
        ("dlq-attempts", b"3"),
    ]
    assert kafka_headers(None) == []


def test_relay_settings_read_the_common_variables_and_tuning_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CP_SERVICE_NAME", "compute")
    monkeypatch.setenv("CP_METRICS_PORT", "0")
    monkeypatch.setenv("CP_DATABASE_URL", "mysql+pymysql://u:p@127.0.0.1:3306/cp_compute")
    monkeypatch.setenv("CP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("CP_RELAY_BATCH_SIZE", "250")
    settings = RelaySettings()  # type: ignore[call-arg]
    assert (settings.relay_batch_size, settings.relay_poll_interval) == (250, 0.05)
    assert settings.relay_published_retention_hours == 7 * 24
    assert {"CP_DATABASE_URL", "CP_KAFKA_BOOTSTRAP", "CP_SERVICE_NAME"} <= required_env_variables(RelaySettings)
    assert not any(v.startswith("CP_RELAY_") for v in required_env_variables(RelaySettings))


def test_the_relay_refuses_a_database_without_an_outbox() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(OutboxMissing, match="cloudctl migrate"):
        require_outbox(engine, "compute")


def test_repeated_kafka_client_errors_are_logged_once_per_interval() -> None:
    throttle = RepeatedKafkaClientLogs(interval=60)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (), None)

    passed = [throttle.filter(record("aiokafka", "Unable to update metadata from %s")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert throttle.filter(record("aiokafka", "Unable connect to node with id %s"))  # another kind of message
    assert all(throttle.filter(record("cpshared.events.relay", "relay_waiting")) for _ in range(3))  # ours
