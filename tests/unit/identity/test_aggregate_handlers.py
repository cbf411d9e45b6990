"""Organizations, API keys, quotas and sessions in the service layer, on in-memory fakes: each
use case asks its aggregate to change, and the events the aggregate recorded reach the outbox
on commit with the aggregate ids, versions and payloads the consumers read."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import Message

from cloudplatform.identity.v1 import events_pb2 as ev
from cpshared.clock import ManualClock, set_clock
from cpshared.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    Unavailable,
)
from identity_service.domain import commands, events
from identity_service.domain.model import (
    OrganizationRole,
    OrganizationStatus,
    QuotaOwner,
    ReservationStatus,
    SettingType,
    UserRole,
    UserStatus,
)
from identity_service.service_layer import accounts, api_keys, organizations, principals, quotas, users
from identity_service.service_layer.unit_of_work import EVENT_CONTRACTS, contract_payload
from tests.unit.identity.fakes import FakePasswordHasher, FakePrincipalSigner, FakeUnitOfWork

M = TypeVar("M", bound=Message)
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
PASSWORD, IP = "correct horse battery staple", "203.0.113.10"


@pytest.fixture(autouse=True)
def clock() -> Iterator[ManualClock]:
    manual = ManualClock(START)
    previous = set_clock(manual)
    try:
        yield manual
    finally:
        set_clock(previous)


@pytest.fixture(scope="module")
def password_hash() -> str:
    return FakePasswordHasher().hash(PASSWORD)


def with_users(*emails: str, password_hash: str = "") -> tuple[FakeUnitOfWork, list[int]]:
    uow = FakeUnitOfWork()
    ids = [uow.users.add(e, e, password_hash, UserRole.CLIENT, UserStatus.ACTIVE, START).id for e in emails]
    return uow, ids


def committed(uow: FakeUnitOfWork) -> list[tuple[str, str, int]]:
    """(type, aggregate id, aggregate version) of every committed event, in outbox order."""
    return [(e.envelope.event_type, e.envelope.aggregate_id, e.envelope.aggregate_version) for e in uow.committed]


def payload(uow: FakeUnitOfWork, index: int, kind: type[M]) -> M:
    message = kind()
    assert uow.committed[index].envelope.payload.Unpack(message)
    return message


# -- the contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", list(EVENT_CONTRACTS), ids=lambda t: t.__name__)
def test_every_recorded_event_names_exactly_the_fields_of_its_contract_payload(event_type: type) -> None:
    spec = EVENT_CONTRACTS[event_type]
    ours = {f.name for f in dataclasses.fields(event_type)}
    assert ours == set(spec.message.DESCRIPTOR.fields_by_name)


def test_an_unset_organization_is_left_out_of_the_payload_as_zero_and_an_optional_change_is_sent() -> None:
    created = contract_payload(
        EVENT_CONTRACTS[events.ApiKeyCreated],
        events.ApiKeyCreated(1, 2, None, "ci", "abcd", ("servers:read",), 10, None),
    )
    assert isinstance(created, ev.ApiKeyCreated)
    assert (created.organization_id, created.HasField("expires_at"), list(created.scopes)) == (
        0,
        False,
        ["servers:read"],
    )
    updated = contract_payload(
        EVENT_CONTRACTS[events.OrganizationUpdated], events.OrganizationUpdated(1, ("country",), 2, country="")
    )
    assert isinstance(updated, ev.OrganizationUpdated)
    assert updated.HasField("country") and not updated.HasField("tax_id")


# -- organizations ------------------------------------------------------------------------------


def test_creating_an_organization_makes_the_creator_its_owner_and_records_it_at_version_1() -> None:
    uow, (ada,) = with_users("ada@example.com")

    organization, owner = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)

    assert (owner.user_id, owner.role) == (ada, OrganizationRole.OWNER)
    assert committed(uow) == [("organization.created", str(organization.id), 1)]
    created = payload(uow, 0, ev.OrganizationCreated)
    assert (created.organization_id, created.owner_user_id, created.status) == (organization.id, ada, "active")
    assert uow.organizations.rows[organization.id].version == 1


def test_adding_and_removing_a_member_bumps_the_organization_once_each() -> None:
    uow, (ada, bob) = with_users("ada@example.com", "bob@example.com")
    organization, _ = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)

    member = organizations.add_member(
        commands.AddMember(ada, organization.id, bob, OrganizationRole.ADMIN, ("servers:read",)), uow
    )
    organizations.remove_member(commands.RemoveMember(ada, organization.id, bob), uow)

    assert (member.role, member.invited_by) == (OrganizationRole.ADMIN, ada)
    org = str(organization.id)
    assert committed(uow)[1:] == [
        ("organization.member_added", org, 2),
        ("organization.member_removed", org, 3),
    ]
    added = payload(uow, 1, ev.OrganizationMemberAdded)
    assert (added.user_id, added.role, added.invited_by_user_id, list(added.permissions)) == (
        bob,
        "admin",
        ada,
        ["servers:read"],
    )
    removed = payload(uow, 2, ev.OrganizationMemberRemoved)
    assert (removed.user_id, removed.role, removed.removed_by_user_id) == (bob, "admin", ada)
    assert uow.organizations.rows[organization.id].version == 3
    assert uow.organizations.member(organization.id, bob) is None


def test_a_member_added_twice_or_by_a_plain_member_is_refused_and_records_nothing() -> None:
    uow, (ada, bob, cy) = with_users("ada@example.com", "bob@example.com", "cy@example.com")
    organization, _ = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)
    organizations.add_member(commands.AddMember(ada, organization.id, bob), uow)
    before = committed(uow)

    with pytest.raises(AlreadyExists):
        organizations.add_member(commands.AddMember(ada, organization.id, bob), uow)
    with pytest.raises(Forbidden):
        organizations.add_member(commands.AddMember(bob, organization.id, cy), uow)
    with pytest.raises(PreconditionFailed, match="owner cannot be removed"):
        organizations.remove_member(commands.RemoveMember(ada, organization.id, ada), uow)

    assert committed(uow) == before
    assert uow.organizations.rows[organization.id].version == 2


# -- API keys -------------------------------------------------------------------------------------


def test_an_api_key_is_created_at_version_1_and_revoked_once_at_version_2() -> None:
    uow, (ada,) = with_users("ada@example.com")

    key, secret = api_keys.create_api_key(commands.CreateApiKey(ada, "ci", ("servers:read",), rate_limit=60), uow)
    revoked = api_keys.revoke_api_key(key.id, uow, owner_id=ada)
    again = api_keys.revoke_api_key(key.id, uow, owner_id=ada)

    assert secret.endswith(key.last_four)
    assert committed(uow) == [("api_key.created", str(key.id), 1), ("api_key.revoked", str(key.id), 2)]
    created = payload(uow, 0, ev.ApiKeyCreated)
    assert (created.user_id, created.organization_id, created.name, list(created.scopes), created.rate_limit) == (
        ada,
        0,
        "ci",
        ["servers:read"],
        60,
    )
    assert created.last_four == key.last_four and not created.HasField("expires_at")
    assert payload(uow, 1, ev.ApiKeyRevoked).revoked_at.ToDatetime(tzinfo=UTC) == START
    assert revoked.revoked_at == again.revoked_at == START


def test_a_key_is_updated_then_rotated_with_one_version_per_change() -> None:
    uow, (ada, bob) = with_users("ada@example.com", "bob@example.com")
    key, _ = api_keys.create_api_key(commands.CreateApiKey(ada, "ci", ("servers:read",), rate_limit=60), uow)

    same = api_keys.update_api_key(commands.UpdateApiKey(key.id, name="ci", owner_id=ada), uow)
    changed = api_keys.update_api_key(
        commands.UpdateApiKey(key.id, name="deploy", scopes=("servers:write",), owner_id=ada), uow
    )
    with pytest.raises(NotFound):
        api_keys.update_api_key(commands.UpdateApiKey(key.id, name="mine", owner_id=bob), uow)
    with pytest.raises(InvalidInput):
        api_keys.rotate_api_key(commands.RotateApiKey(key.id, grace_period_seconds=-1, owner_id=ada), uow)
    successor, secret, previous = api_keys.rotate_api_key(
        commands.RotateApiKey(key.id, grace_period_seconds=600, owner_id=ada), uow
    )

    assert same.version == 1 and changed.version == 2 and previous.version == 3
    assert committed(uow) == [
        ("api_key.created", str(key.id), 1),
        ("api_key.updated", str(key.id), 2),
        ("api_key.created", str(successor.id), 1),
        ("api_key.rotated", str(key.id), 3),
    ]
    assert (successor.name, successor.scopes, successor.rate_limit) == ("deploy", ("servers:write",), 60)
    assert secret.endswith(successor.last_four)
    rotated = payload(uow, 3, ev.ApiKeyRotated)
    assert rotated.successor_api_key_id == successor.id
    assert rotated.retires_at.ToDatetime(tzinfo=UTC) == START + timedelta(minutes=10) == previous.expires_at
    assert previous.revoked_at is None

    _, _, at_once = api_keys.rotate_api_key(commands.RotateApiKey(successor.id, 0, owner_id=ada), uow)
    assert at_once.revoked_at == START
    with pytest.raises(NotFound):
        api_keys.rotate_api_key(commands.RotateApiKey(successor.id, 0, owner_id=ada), uow)


def test_another_users_key_answers_as_missing_and_stays_live() -> None:
    uow, (ada, bob) = with_users("ada@example.com", "bob@example.com")
    key, _ = api_keys.create_api_key(commands.CreateApiKey(ada, "ci", ("servers:read",)), uow)

    with pytest.raises(NotFound):
        api_keys.revoke_api_key(key.id, uow, owner_id=bob)

    assert [t for t, _, _ in committed(uow)] == ["api_key.created"]
    assert uow.api_keys.rows[key.id].revoked_at is None


# -- trials -------------------------------------------------------------------------------------


def test_an_organization_on_trial_is_capped_and_becomes_active_when_the_trial_is_due(clock: ManualClock) -> None:
    uow = FakeUnitOfWork(
        {"organization_trial_days": (SettingType.INTEGER, "14"), "trial_server_limit": (SettingType.INTEGER, "2")}
    )
    ada = uow.users.add("ada", "ada@example.com", "", UserRole.CLIENT, UserStatus.ACTIVE, START).id
    organization, _ = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)
    assert organization.status is OrganizationStatus.TRIAL
    assert organization.trial_ends_at == START + timedelta(days=14)
    owner = QuotaOwner(organization_id=organization.id)
    uow.quotas.create_if_missing(owner, "server", 10, START)
    quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 2), lambda: uow)
    with pytest.raises(LimitExceeded, match="on trial"):
        quotas.reserve_quota(commands.ReserveQuota("vm-2", owner, "server", 1), lambda: uow)
    uow.quotas.create_if_missing(owner, "floating_ip", 3, START)
    for n in range(3):  # no trial limit set for floating IPs: the quota alone counts
        quotas.reserve_quota(commands.ReserveQuota(f"ip-{n}", owner, "floating_ip", 1), lambda: uow)

    assert organizations.end_due_trials(START + timedelta(days=13), lambda: uow) == 0
    clock.advance(timedelta(days=14))
    assert organizations.end_due_trials(START + timedelta(days=14), lambda: uow) == 1
    assert organizations.end_due_trials(START + timedelta(days=14), lambda: uow) == 0
    assert uow.organizations.rows[organization.id].status is OrganizationStatus.ACTIVE
    ended = [e for e in committed(uow) if e[0] == "organization.trial_ended"]
    assert ended == [("organization.trial_ended", str(organization.id), 2)]
    quotas.reserve_quota(commands.ReserveQuota("vm-2", owner, "server", 1), lambda: uow)


def test_without_a_trial_setting_an_organization_starts_active() -> None:
    uow, (ada,) = with_users("ada@example.com")
    organization, _ = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)
    assert organization.status is OrganizationStatus.ACTIVE and organization.trial_ends_at is None


# -- quotas -------------------------------------------------------------------------------------


def test_a_reservation_key_reserves_once_and_releases_once() -> None:
    uow, (ada,) = with_users("ada@example.com")
    uow.quotas.create_if_missing(QuotaOwner(user_id=ada), "server", 3, START)
    reserve = commands.ReserveQuota("vm-1", QuotaOwner(user_id=ada), "server", 2)

    first, quota = quotas.reserve_quota(reserve, lambda: uow)
    second, again = quotas.reserve_quota(reserve, lambda: uow)
    released, after = quotas.release_quota("vm-1", lambda: uow)
    released_again, _ = quotas.release_quota("vm-1", lambda: uow)

    assert first == second and (quota.current_usage, again.current_usage) == (2, 2)
    assert (released.status, released_again.status) == (ReservationStatus.RELEASED, ReservationStatus.RELEASED)
    assert (after.current_usage, after.version) == (0, 2)
    assert committed(uow) == [("quota.reserved", str(quota.id), 1), ("quota.released", str(quota.id), 2)]
    reserved = payload(uow, 0, ev.QuotaReserved)
    assert (reserved.user_id, reserved.organization_id, reserved.reservation_key, reserved.amount) == (
        ada,
        0,
        "vm-1",
        2,
    )
    assert (reserved.current_usage, reserved.quota_limit) == (2, 3)
    assert (payload(uow, 1, ev.QuotaReleased).current_usage, uow.quotas.rows[quota.id].current_usage) == (0, 0)


def test_a_reservation_beyond_the_limit_or_a_reused_key_changes_nothing() -> None:
    uow, (ada,) = with_users("ada@example.com")
    owner = QuotaOwner(user_id=ada)
    uow.quotas.create_if_missing(owner, "server", 1, START)
    quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 1), lambda: uow)

    with pytest.raises(LimitExceeded):
        quotas.reserve_quota(commands.ReserveQuota("vm-2", owner, "server", 1), lambda: uow)
    with pytest.raises(InvalidInput, match="used for another reservation"):
        quotas.reserve_quota(commands.ReserveQuota("vm-1", owner, "server", 2), lambda: uow)

    assert [t for t, _, _ in committed(uow)] == ["quota.reserved"]
    stored = uow.quotas.get(owner, "server")
    assert stored is not None and (stored.current_usage, stored.version) == (1, 1)


# -- sessions -----------------------------------------------------------------------------------


def test_a_session_is_opened_at_version_1_and_revoked_once(password_hash: str) -> None:
    uow, (ada,) = with_users("ada@example.com", password_hash=password_hash)
    key = Ed25519PrivateKey.generate()

    session, tokens, _ = accounts.create_session(
        accounts.CreateSession("ada@example.com", PASSWORD, IP, "pytest/1.0"), key, lambda: uow
    )
    revoked = accounts.revoke_session(session.id, uow, owner_id=ada, acting_user_id=ada)
    again = accounts.revoke_session(session.id, uow, owner_id=ada, acting_user_id=ada)

    assert tokens.refresh_expires_at == session.expires_at
    sid = str(session.id)
    assert committed(uow)[1:] == [("user.session_created", sid, 1), ("user.session_revoked", sid, 2)]
    created = payload(uow, 1, ev.UserSessionCreated)
    assert (created.session_id, created.user_id, created.ip) == (session.id, ada, IP)
    ended = payload(uow, 2, ev.UserSessionRevoked)
    assert (ended.reason, ended.revoked_by_user_id) == ("logout", ada)
    assert revoked.revoked_at == again.revoked_at == START
    assert uow.accounts.sessions[session.id].version == 2


def test_a_password_change_ends_the_other_sessions_before_it_is_recorded(password_hash: str) -> None:
    uow, (ada,) = with_users("ada@example.com", password_hash=password_hash)
    key = Ed25519PrivateKey.generate()
    login = accounts.CreateSession("ada@example.com", PASSWORD, IP, "pytest/1.0")
    kept, _, _ = accounts.create_session(login, key, lambda: uow)
    other, _, _ = accounts.create_session(login, key, lambda: uow)
    before = len(uow.committed)

    ended = accounts.change_password(ada, PASSWORD, "a brand new passphrase", kept.id, uow)

    assert ended == 1
    version = uow.users.rows[ada].version
    assert committed(uow)[before:] == [
        ("user.session_revoked", str(other.id), 2),
        ("user.password_changed", str(ada), version + 1),
    ]
    assert payload(uow, before + 1, ev.UserPasswordChanged).revoked_sessions == 1


def test_a_password_reset_ends_every_session_lifts_the_lock_and_uses_the_token_up(
    password_hash: str, clock: ManualClock
) -> None:
    uow, (ada,) = with_users("ada@example.com", password_hash=password_hash)
    key = Ed25519PrivateKey.generate()
    session, _, _ = accounts.create_session(accounts.CreateSession("ada@example.com", PASSWORD, IP), key, lambda: uow)
    uow.users.rows[ada] = dataclasses.replace(
        uow.users.rows[ada], failed_logins=0, locked_until=START + timedelta(minutes=15)
    )
    mail = accounts.request_password_reset("ada@example.com", uow)
    assert mail is not None
    before = len(uow.committed)

    profile, ended = accounts.confirm_password_reset(mail.token or "", "a brand new passphrase", uow)

    assert (profile.id, ended) == (ada, 1)
    assert uow.users.rows[ada].locked_until is None
    version = uow.users.rows[ada].version
    assert committed(uow)[before:] == [
        ("user.session_revoked", str(session.id), 2),
        ("user.password_reset", str(ada), version + 1),
    ]
    reset = payload(uow, before + 1, ev.UserPasswordReset)
    assert (reset.revoked_sessions, reset.unlocked) == (1, True)
    assert payload(uow, before, ev.UserSessionRevoked).reason == "password_reset"
    with pytest.raises(InvalidInput, match="used already"):
        accounts.confirm_password_reset(mail.token or "", "another new passphrase", uow)
    assert len(uow.committed) == before + 2


def test_a_password_reset_token_expires_after_the_setting(clock: ManualClock) -> None:
    uow, _ = with_users("ada@example.com")
    mail = accounts.request_password_reset("ada@example.com", uow)
    assert mail is not None and mail.minutes == 30
    clock.advance(timedelta(minutes=30))
    with pytest.raises(InvalidInput, match="expired"):
        accounts.confirm_password_reset(mail.token or "", "a brand new passphrase", uow)


def test_a_new_account_keeps_only_the_hash_its_hasher_made() -> None:
    uow = FakeUnitOfWork()

    user = users.create_user(commands.CreateUser("Ada", "Ada@Example.com", PASSWORD), uow)

    assert uow.users.rows[user.id].password_hash == uow.passwords.hash(PASSWORD) != PASSWORD
    assert user.password_hash is None
    assert committed(uow) == [("user.created", str(user.id), 1)]
    created = payload(uow, 0, ev.UserCreated)
    assert (created.user_id, created.role, created.status) == (user.id, "client", "pending")


# -- principals -----------------------------------------------------------------------------------


def test_a_key_bound_to_an_organization_is_signed_for_that_organization_only() -> None:
    uow, (ada,) = with_users("ada@example.com")
    acme, _ = organizations.create_organization(commands.CreateOrganization(ada, "Acme", "acme"), uow)
    organizations.create_organization(commands.CreateOrganization(ada, "Other", "other"), uow)
    key, secret = api_keys.create_api_key(commands.CreateApiKey(ada, "ci", ("servers:read",), acme.id), uow)
    signer = FakePrincipalSigner()

    issued = principals.for_api_key(secret, "203.0.113.10", uow, signer)

    assert issued.assertion == f"signed:{ada}:{key.id}"
    (principal,) = signer.signed
    assert (principal.organizations, principal.scopes, principal.expires_at) == (
        {acme.id: "owner"},
        ("servers:read",),
        issued.expires_at,
    )
    assert (uow.api_keys.rows[key.id].last_used_at, uow.api_keys.rows[key.id].last_used_ip) == (START, "203.0.113.10")


def test_a_revoked_key_or_a_missing_signer_gets_no_assertion() -> None:
    uow, (ada,) = with_users("ada@example.com")
    key, secret = api_keys.create_api_key(commands.CreateApiKey(ada, "ci", ("servers:read",)), uow)
    api_keys.revoke_api_key(key.id, uow)
    signer = FakePrincipalSigner()

    with pytest.raises(Unauthenticated, match="revoked"):
        principals.for_api_key(secret, "", uow, signer)
    with pytest.raises(Unavailable, match="no principal signing key"):
        principals.required_signer(None)

    assert signer.signed == []
