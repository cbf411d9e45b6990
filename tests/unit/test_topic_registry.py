from __future__ import annotations

from cpshared.topics import ALL_TOPICS, BY_NAME, DEAD_LETTERS, FOREVER, STREAMS, TopicKind


def test_topic_names_are_unique() -> None:
    assert len(BY_NAME) == len(ALL_TOPICS)


def test_domain_streams_are_kept_forever_and_telemetry_is_not() -> None:
    for topic in STREAMS:
        if topic.kind is TopicKind.DOMAIN:
            assert topic.retention_ms == FOREVER, topic.name
            assert topic.configs()["retention.ms"] == "-1"
        else:
            assert topic.kind is TopicKind.TELEMETRY
            assert 0 < topic.retention_ms <= 30 * 24 * 3600 * 1000


def test_every_stream_has_a_dead_letter_topic_kept_until_handled() -> None:
    assert {t.name for t in DEAD_LETTERS} == {f"{s.name}.dlq" for s in STREAMS}
    assert all(t.retention_ms == FOREVER for t in DEAD_LETTERS)


def test_every_domain_has_its_stream() -> None:
    for domain in ("identity", "compute", "network", "storage", "billing", "monitoring", "support"):
        assert f"{domain}.events" in BY_NAME
    assert "usage.events" in BY_NAME and "gateway.requests" in BY_NAME
