"""Quota reservations: atomic under concurrency, idempotent by reservation key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cpshared.errors import InvalidInput, LimitExceeded, NotFound
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import Quota, QuotaOwner, Reservation, ReservationStatus
from identity_service.service_layer import quotas
from tests.integration.identity.support import event_types, make_organization, make_user, outbox_events


def usage(engine: sa.Engine) -> tuple[int, int]:
    """(limit, usage) of the test's one quota row."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT quota_limit, current_usage FROM resource_quotas")).one()
    return int(row[0]), int(row[1])


def reserve(identity: Identity, key: str, owner: QuotaOwner, amount: int = 1) -> tuple[Reservation, Quota]:
    return quotas.reserve_quota(commands.ReserveQuota(key, owner, "server", amount), identity.uow)


def test_100_concurrent_reservations_against_a_quota_of_10_let_exactly_10_through(
    identity: Identity, engine: sa.Engine
) -> None:
    owner = QuotaOwner(user_id=make_user(identity).id)

    def attempt(i: int) -> str:
        try:
            reserve(identity, f"server-{i}", owner)
        except LimitExceeded:
            return "refused"
        return "reserved"

    with ThreadPoolExecutor(max_workers=100) as pool:
        outcomes = list(pool.map(attempt, range(100)))

    assert outcomes.count("reserved") == 10 and outcomes.count("refused") == 90
    assert usage(engine) == (10, 10)  # the quota row was created with default_server_limit
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM quota_reservations")).scalar_one() == 10
    assert event_types(engine).count("quota.reserved") == 10


def test_the_same_reservation_key_answers_the_same_and_counts_once(identity: Identity, engine: sa.Engine) -> None:
    owner = QuotaOwner(user_id=make_user(identity).id)
    first = quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 3), identity.uow)
    again = quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 3), identity.uow)

    assert again[0] == first[0] and again[1].current_usage == 3
    assert usage(engine) == (10, 3)
    with pytest.raises(InvalidInput, match="another reservation"):
        quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 4), identity.uow)


def test_concurrent_repeats_of_one_key_count_once(identity: Identity, engine: sa.Engine) -> None:
    owner = QuotaOwner(user_id=make_user(identity).id)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: reserve(identity, "same-key", owner, 2), range(20)))
    assert all(answer == answers[0] for answer in answers)
    assert usage(engine) == (10, 2)
    assert event_types(engine).count("quota.reserved") == 1


def test_release_frees_the_units_exactly_once(identity: Identity, engine: sa.Engine) -> None:
    owner = QuotaOwner(user_id=make_user(identity).id)
    reserve(identity, "vm-1", owner, 4)
    reserve(identity, "vm-2", owner, 1)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: quotas.release_quota("vm-1", identity.uow), range(10)))

    assert all(r[0].status is ReservationStatus.RELEASED for r in results)
    assert usage(engine) == (10, 1)
    assert event_types(engine).count("quota.released") == 1
    with pytest.raises(NotFound):
        quotas.release_quota("never-reserved", identity.uow)
    # Released units can be reserved again, under a new key.
    reserve(identity, "vm-3", owner, 9)
    with pytest.raises(LimitExceeded):
        reserve(identity, "vm-4", owner, 1)


def test_an_organization_has_its_own_quota(identity: Identity, engine: sa.Engine) -> None:
    user = make_user(identity)
    organization_id = make_organization(engine, user.id)
    _, quota = reserve(identity, "org-vm-1", QuotaOwner(organization_id=organization_id), 2)
    assert (quota.owner.organization_id, quota.current_usage, quota.quota_limit) == (organization_id, 2, 10)


def test_a_quota_reservation_event_carries_the_quota_version(identity: Identity, engine: sa.Engine) -> None:
    owner = QuotaOwner(user_id=make_user(identity).id)
    reserve(identity, "a", owner)
    reserve(identity, "b", owner)
    quotas.release_quota("a", identity.uow)
    quota_events = [e for e in outbox_events(engine) if e.envelope.aggregate_type == "quota"]
    assert [(e.event_type, e.envelope.aggregate_version) for e in quota_events] == [
        ("quota.reserved", 1),
        ("quota.reserved", 2),
        ("quota.released", 3),
    ]
