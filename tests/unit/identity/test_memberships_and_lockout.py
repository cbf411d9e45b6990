"""Organization membership rules and the login lockout policy, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cpshared.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from identity_service.domain.model import (
    LockoutPolicy,
    Membership,
    OrganizationRole,
    SignInFailures,
    check_grantable,
    check_permissions,
    check_removal,
    check_role_change,
    check_slug,
    check_transfer,
    require_manager,
    sign_in_subject,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ORG = 7


def member(user_id: int, role: OrganizationRole) -> Membership:
    return Membership(ORG, user_id, role, (), None, NOW)


OWNER, ADMIN, PLAIN, BILLING = (
    member(1, OrganizationRole.OWNER),
    member(2, OrganizationRole.ADMIN),
    member(3, OrganizationRole.MEMBER),
    member(4, OrganizationRole.BILLING),
)


@pytest.mark.parametrize("slug", ["acme", "a", "acme-cloud-2", "0", "a" * 63])
def test_a_slug_of_lower_case_letters_digits_and_inner_hyphens_is_accepted(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize("slug", ["", "Acme", "acme_cloud", "-acme", "acme-", "ac me", "a" * 64, "äcme", "acme.io"])
def test_any_other_slug_is_refused_with_what_to_change(slug: str) -> None:
    with pytest.raises(InvalidInput, match="lower-case letters, digits and hyphens"):
        check_slug(slug)


def test_owner_is_never_granted_directly() -> None:
    with pytest.raises(InvalidInput, match="TransferOwnership"):
        check_grantable(OrganizationRole.OWNER)
    assert check_grantable(OrganizationRole.BILLING) is OrganizationRole.BILLING


def test_per_member_permissions_are_scopes_and_may_be_empty() -> None:
    assert check_permissions([]) == ()
    assert check_permissions(["servers:read", "servers:read"]) == ("servers:read",)
    with pytest.raises(InvalidInput):
        check_permissions(["everything"])


def test_only_the_owner_and_admins_manage_members_and_outsiders_see_no_organization() -> None:
    assert require_manager(OWNER, ORG) is OWNER and require_manager(ADMIN, ORG) is ADMIN
    for actor in (PLAIN, BILLING):
        with pytest.raises(Forbidden):
            require_manager(actor, ORG)
    with pytest.raises(NotFound):
        require_manager(None, ORG)


def test_the_owners_role_changes_only_by_a_transfer() -> None:
    check_role_change(ADMIN, PLAIN, ORG)
    with pytest.raises(PreconditionFailed, match="TransferOwnership"):
        check_role_change(ADMIN, OWNER, ORG)
    with pytest.raises(PreconditionFailed):
        check_role_change(OWNER, OWNER, ORG)


def test_nobody_removes_the_owner_but_members_may_leave() -> None:
    for actor in (OWNER, ADMIN):
        with pytest.raises(PreconditionFailed, match="transfer ownership first"):
            check_removal(actor, OWNER, ORG)
    check_removal(ADMIN, PLAIN, ORG)
    check_removal(PLAIN, PLAIN, ORG)  # leaving
    with pytest.raises(Forbidden):
        check_removal(PLAIN, BILLING, ORG)
    with pytest.raises(NotFound):
        check_removal(None, PLAIN, ORG)


def test_only_the_owner_transfers_and_only_to_another_member() -> None:
    assert check_transfer(OWNER, PLAIN, ORG) is PLAIN
    with pytest.raises(Forbidden):
        check_transfer(ADMIN, PLAIN, ORG)
    with pytest.raises(PreconditionFailed, match="member"):
        check_transfer(OWNER, None, ORG)
    with pytest.raises(InvalidInput):
        check_transfer(OWNER, OWNER, ORG)


def test_failures_of_one_account_from_one_address_wait_longer_each_time_then_lock_that_pair() -> None:
    policy = LockoutPolicy(max_failures=5, lockout=timedelta(minutes=15))
    pair = SignInFailures(sign_in_subject("ada@example.com"), "203.0.113.7")
    now = NOW
    # Two mistakes are free, then 1 s, 2 s, ...
    for failures, wait in zip(range(1, 5), (None, None, 1, 2), strict=True):
        assert pair.retry_after(now) is None
        pair = pair.failed(policy, now)
        assert (pair.failures, pair.retry_after(now)) == (failures, wait)
        assert not pair.locked(policy, now)
        now += timedelta(seconds=wait or 0)
    pair = pair.failed(policy, now)
    assert pair.locked(policy, now) and pair.retry_after(now) == 15 * 60
    assert pair.locked(policy, now + timedelta(minutes=14, seconds=59))
    assert not pair.locked(policy, now + timedelta(minutes=15))
    # Another failure after the lock locks again; a long quiet time forgets the run.
    again = pair.failed(policy, now + timedelta(minutes=15))
    assert again.failures == 6 and again.retry_after(now + timedelta(minutes=15)) == 15 * 60
    quiet = now + timedelta(minutes=30)
    assert pair.current(policy, quiet).failures == 0
    assert pair.failed(policy, quiet).retry_after(quiet) is None


def test_the_subject_of_an_email_is_the_same_for_every_spelling_and_tells_nothing_of_the_email() -> None:
    assert sign_in_subject(" Ada@Example.com ") == sign_in_subject("ada@example.com")
    assert "ada" not in sign_in_subject("ada@example.com") and len(sign_in_subject("x")) == 64


def test_a_lockout_policy_needs_a_positive_limit_and_window() -> None:
    assert LockoutPolicy() == LockoutPolicy(max_failures=5, lockout=timedelta(minutes=15))
    with pytest.raises(InvalidInput):
        LockoutPolicy(max_failures=0)
    with pytest.raises(InvalidInput):
        LockoutPolicy(lockout=timedelta(0))
