"""In-memory fakes of identity's ports: the service layer runs on them with no database.

They keep what a test looks at (users, sign-in attempts, settings, the events committed) and
model the one transactional rule the use cases rely on: events reach the outbox only through
a commit, and a rollback drops the ones not committed yet.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from cpshared.auth.principal import Principal
from cpshared.events.envelope import PendingEvent
from identity_service.domain.accounts import EmailVerification, PasswordResetToken, Profile, UserSession
from identity_service.domain.dunning import AccountType, BillingHold
from identity_service.domain.model import (
    ApiKey,
    LoginAttempt,
    LoginFailure,
    Membership,
    Organization,
    OrganizationRole,
    OrganizationStatus,
    Quota,
    QuotaOwner,
    Reservation,
    ReservationStatus,
    Setting,
    SettingType,
    SignInFailures,
    User,
    UserRole,
    UserStatus,
)
from identity_service.domain.passwords import Verdict
from identity_service.domain.two_factor import TwoFactor, TwoFactorAccount
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


class FakeUserRepository:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self.seen: list[User] = []

    def add(self, name: str, email: str, password_hash: str, role: UserRole, status: UserStatus, now: datetime) -> User:
        user = User(len(self.rows) + 1, name, email, role, status, now)
        self.rows[user.id] = replace(user, password_hash=password_hash)
        self.seen.append(user)
        return user

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        found = self.rows.get(user_id)
        return None if found is None else replace(found)

    def by_email(self, email: str, *, for_update: bool = False) -> User | None:
        """A copy, as a database read gives: the aggregate changes only through save_login."""
        found = next((u for u in self.rows.values() if u.email == email), None)
        return None if found is None else replace(found)

    def save_login(self, user: User, now: datetime, *, succeeded_from: str | None, password_hash: str | None) -> None:
        self.seen.append(user)
        stored = self.rows[user.id]
        self.rows[user.id] = replace(
            stored,
            version=user.version,
            failed_logins=user.failed_logins,
            locked_until=user.locked_until,
            last_login_at=now if succeeded_from is not None else stored.last_login_at,
            password_hash=password_hash or stored.password_hash,
        )

    def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        self.rows[user_id] = replace(self.rows[user_id], password_hash=password_hash)

    def save_status(self, user: User, now: datetime) -> None:
        self.seen.append(user)
        self.rows[user.id] = replace(self.rows[user.id], status=user.status, version=user.version)

    def save_erased(self, user: User, now: datetime) -> None:
        self.seen.append(user)
        self.rows[user.id] = replace(
            self.rows[user.id], name="", email=f"erased-{user.id}", status=user.status, version=user.version
        )

    def admin_exists(self) -> bool:
        return any(u.role is UserRole.ADMIN for u in self.rows.values())


class FakePasswordHasher:
    """A fast stand-in for argon2id: a salted SHA-256 (no work factor), so the unit tests
    spend no second per hash. It remembers what it was asked to check, so a test can see that
    a refusal without an account still paid for one check."""

    PREFIX = "fake-sha256$"

    def __init__(self) -> None:
        self.checked: list[str | None] = []

    def hash(self, password: str) -> str:
        return self.PREFIX + hashlib.sha256(f"salt:{password}".encode()).hexdigest()

    def verify(self, stored: str | None, password: str) -> Verdict:
        self.checked.append(stored)
        return Verdict(ok=stored is not None and hmac.compare_digest(stored, self.hash(password)))


class FakePrincipalSigner:
    """Keeps the principals it was asked to sign; the "assertion" names the principal."""

    def __init__(self) -> None:
        self.signed: list[Principal] = []

    def sign(self, principal: Principal, /) -> str:
        self.signed.append(principal)
        return f"signed:{principal.user_id}:{principal.api_key_id}"


class FakeLoginActivityRepository:
    def __init__(self) -> None:
        self.attempts: list[LoginAttempt] = []
        self.pairs: dict[tuple[str, str], SignInFailures] = {}

    def add(
        self, user_id: int | None, ip_address: str, user_agent: str, failure: LoginFailure | None, now: datetime
    ) -> LoginAttempt:
        attempt = LoginAttempt(len(self.attempts) + 1, user_id, ip_address, user_agent, failure is None, failure, now)
        self.attempts.append(attempt)
        return attempt

    def of_user(self, user_id: int, *, offset: int, limit: int) -> tuple[list[LoginAttempt], int]:
        mine = [a for a in reversed(self.attempts) if a.user_id == user_id]
        return mine[offset : offset + limit], len(mine)

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        old = [a for a in self.attempts if a.created_at < cutoff][:limit]
        self.attempts = [a for a in self.attempts if a not in old]
        return len(old)

    def failures(self, subject: str, ip_address: str) -> SignInFailures:
        return self.pairs.get((subject, ip_address), SignInFailures(subject, ip_address))

    def save_failures(self, failures: SignInFailures) -> None:
        self.pairs[(failures.subject, failures.ip)] = failures

    def clear_failures(self, subject: str, ip_address: str) -> None:
        self.pairs.pop((subject, ip_address), None)

    def clear_subject(self, subject: str, now: datetime) -> int:
        mine = [k for k in self.pairs if k[0] == subject]
        blocked = sum(1 for k in mine if (self.pairs[k].blocked_until or now) > now)
        for k in mine:
            del self.pairs[k]
        return blocked

    def delete_failures_before(self, cutoff: datetime, limit: int) -> int:
        old = [k for k, v in self.pairs.items() if v.blocked_until is None or v.blocked_until < cutoff][:limit]
        for key in old:
            del self.pairs[key]
        return len(old)


class FakeSettingRepository:
    def __init__(self, values: dict[str, tuple[SettingType, str]]) -> None:
        self.rows = {key: Setting(key, kind, text, "", 1, None) for key, (kind, text) in values.items()}
        self.seen: list[Setting] = []

    def get(self, key: str, *, for_update: bool = False) -> Setting | None:
        found = self.rows.get(key)
        return None if found is None else replace(found)

    def update(self, setting: Setting) -> None:
        self.seen.append(setting)
        self.rows[setting.key] = replace(setting)


class FakeOrganizationRepository:
    """Organizations and their members; reads are copies, as a database read gives."""

    def __init__(self) -> None:
        self.rows: dict[int, Organization] = {}
        self.memberships: dict[tuple[int, int], Membership] = {}
        self.seen: list[Organization] = []

    def exists(self, organization_id: int) -> bool:
        return organization_id in self.rows

    def add(
        self, name: str, slug: str, owner_id: int, now: datetime, trial_ends_at: datetime | None = None
    ) -> Organization:
        status = OrganizationStatus.ACTIVE if trial_ends_at is None else OrganizationStatus.TRIAL
        organization = Organization(len(self.rows) + 1, name, slug, owner_id, status, now, trial_ends_at=trial_ends_at)
        self.rows[organization.id] = replace(organization)
        self.seen.append(organization)
        return organization

    def slug_taken(self, slug: str) -> bool:
        return any(o.slug == slug for o in self.rows.values())

    def trials_over(self, now: datetime, limit: int) -> list[int]:
        due = [o for o in self.rows.values() if o.trial_over(now)]
        return [o.id for o in sorted(due, key=lambda o: (o.trial_ends_at, o.id))][:limit]

    def get(self, organization_id: int, *, for_update: bool = False) -> Organization | None:
        found = self.rows.get(organization_id)
        return None if found is None else replace(found)

    def save(self, organization: Organization, now: datetime) -> None:
        self.seen.append(organization)
        self.rows[organization.id] = replace(organization)

    def of_user(self, user_id: int) -> list[tuple[Organization, Membership]]:
        return [(replace(self.rows[o]), m) for (o, u), m in sorted(self.memberships.items()) if u == user_id]

    def add_member(self, member: Membership) -> None:
        self.memberships[member.organization_id, member.user_id] = member

    def member(self, organization_id: int, user_id: int) -> Membership | None:
        return self.memberships.get((organization_id, user_id))

    def members(self, organization_id: int) -> list[Membership]:
        return [m for (o, _), m in sorted(self.memberships.items()) if o == organization_id]

    def set_role(self, organization_id: int, user_id: int, role: OrganizationRole) -> None:
        key = (organization_id, user_id)
        self.memberships[key] = replace(self.memberships[key], role=role)

    def set_permissions(self, organization_id: int, user_id: int, permissions: tuple[str, ...]) -> None:
        key = (organization_id, user_id)
        self.memberships[key] = replace(self.memberships[key], permissions=permissions)

    def remove_member(self, organization_id: int, user_id: int) -> None:
        del self.memberships[organization_id, user_id]


class FakeApiKeyRepository:
    def __init__(self) -> None:
        self.rows: dict[int, ApiKey] = {}
        self.hashes: dict[str, int] = {}
        self.seen: list[ApiKey] = []

    def add(
        self,
        *,
        user_id: int,
        organization_id: int | None,
        name: str,
        key_hash: str,
        last_four: str,
        scopes: tuple[str, ...],
        rate_limit: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiKey:
        key = ApiKey(len(self.rows) + 1, user_id, organization_id, name, last_four, scopes, rate_limit, expires_at, now)
        self.rows[key.id], self.hashes[key_hash] = replace(key), key.id
        self.seen.append(key)
        return key

    def get(self, key_id: int, *, for_update: bool = False) -> ApiKey | None:
        found = self.rows.get(key_id)
        return None if found is None else replace(found)

    def by_hash(self, key_hash: str) -> ApiKey | None:
        key_id = self.hashes.get(key_hash)
        return None if key_id is None else self.get(key_id)

    def of_user(self, user_id: int) -> list[ApiKey]:
        return [replace(k) for k in sorted(self.rows.values(), key=lambda k: -k.id) if k.user_id == user_id]

    def save(self, key: ApiKey) -> None:
        self.seen.append(key)
        self.rows[key.id] = replace(key)

    def note_use(self, key_id: int, ip: str | None, now: datetime, every: timedelta) -> bool:
        stored = self.rows[key_id]
        if stored.last_used_at is not None and stored.last_used_at >= now - every:
            return False
        self.rows[key_id] = replace(stored, last_used_at=now, last_used_ip=ip)
        return True


class FakeQuotaRepository:
    """Quotas and reservations; the row locks are the database's (tests here run one at a time)."""

    def __init__(self) -> None:
        self.rows: dict[int, Quota] = {}
        self.reservations: dict[str, Reservation] = {}
        self.seen: list[Quota] = []

    def create_if_missing(self, owner: QuotaOwner, resource_type: str, quota_limit: int, now: datetime) -> None:
        if self.get(owner, resource_type) is None:
            quota_id = len(self.rows) + 1
            self.rows[quota_id] = Quota(quota_id, owner, resource_type, quota_limit, current_usage=0, version=0)

    def get(self, owner: QuotaOwner, resource_type: str, *, for_update: bool = False) -> Quota | None:
        found = next((q for q in self.rows.values() if (q.owner, q.resource_type) == (owner, resource_type)), None)
        return None if found is None else replace(found)

    def lock_by_id(self, quota_id: int) -> Quota:
        return replace(self.rows[quota_id])

    def save(self, quota: Quota, now: datetime) -> None:
        self.seen.append(quota)
        self.rows[quota.id] = replace(quota)

    def reservation(self, key: str) -> Reservation | None:
        return self.reservations.get(key)

    def add_reservation(self, reservation: Reservation) -> None:
        assert reservation.key not in self.reservations, "the unique key would refuse it"
        self.reservations[reservation.key] = reservation

    def mark_released(self, reservation: Reservation) -> None:
        assert reservation.status is ReservationStatus.RELEASED
        self.reservations[reservation.key] = reservation


class FakeAccountRepository:
    """Profiles (made from the users' rows), email verifications and sign-in sessions."""

    def __init__(self, users: FakeUserRepository) -> None:
        self._users = users
        self.profiles: dict[int, Profile] = {}
        self.sessions: dict[int, UserSession] = {}
        self.refresh_hashes: dict[int, str] = {}
        self.verifications: dict[str, EmailVerification] = {}
        self.password_resets: dict[str, PasswordResetToken] = {}
        self.seen: list[UserSession | Profile] = []

    def profile(self, user_id: int, *, for_update: bool = False) -> Profile | None:
        if user_id in self.profiles:
            return replace(self.profiles[user_id])
        user = self._users.rows.get(user_id)
        if user is None:
            return None
        return Profile(user.id, user.name, user.email, user.role, user.status, user.created_at, version=user.version)

    def save_profile(self, profile: Profile, changes: dict[str, str], now: datetime) -> None:
        self.seen.append(profile)
        self.profiles[profile.id] = replace(profile)

    def mark_email_verified(self, profile: Profile, now: datetime) -> None:
        self.seen.append(profile)
        self.profiles[profile.id] = replace(profile)

    def save_password(self, profile: Profile, password_hash: str, now: datetime) -> None:
        self.seen.append(profile)
        self.profiles[profile.id] = replace(profile)
        self._users.set_password_hash(profile.id, password_hash, now)

    def password_hash(self, user_id: int) -> str | None:
        user = self._users.rows.get(user_id)
        return None if user is None else user.password_hash

    def save_reset_password(self, profile: Profile, password_hash: str, now: datetime) -> None:
        self.save_password(profile, password_hash, now)
        user = self._users.rows[profile.id]
        self._users.rows[profile.id] = replace(user, failed_logins=0, locked_until=None)

    def locked_until(self, user_id: int) -> datetime | None:
        user = self._users.rows.get(user_id)
        return None if user is None else user.locked_until

    def add_password_reset(
        self, user_id: int, token_hash: str, now: datetime, expires_at: datetime
    ) -> PasswordResetToken:
        reset = PasswordResetToken(len(self.password_resets) + 1, user_id, now, expires_at, used_at=None)
        self.password_resets[token_hash] = reset
        return reset

    def password_reset_by_hash(self, token_hash: str) -> PasswordResetToken | None:
        return self.password_resets.get(token_hash)

    def latest_password_reset_sent(self, user_id: int) -> datetime | None:
        return max((r.created_at for r in self.password_resets.values() if r.user_id == user_id), default=None)

    def end_password_resets(self, user_id: int, now: datetime) -> None:
        for token_hash, r in self.password_resets.items():
            if r.user_id == user_id and r.used_at is None:
                self.password_resets[token_hash] = replace(r, used_at=now)

    def add_verification(
        self, user_id: int, email: str, token_hash: str, now: datetime, expires_at: datetime
    ) -> EmailVerification:
        verification = EmailVerification(len(self.verifications) + 1, user_id, email, now, expires_at, used_at=None)
        self.verifications[token_hash] = verification
        return verification

    def verification_by_hash(self, token_hash: str) -> EmailVerification | None:
        return self.verifications.get(token_hash)

    def latest_verification_sent(self, user_id: int) -> datetime | None:
        return max((v.created_at for v in self.verifications.values() if v.user_id == user_id), default=None)

    def mark_verification_used(self, verification_id: int, now: datetime) -> None:
        for token_hash, v in self.verifications.items():
            if v.id == verification_id:
                self.verifications[token_hash] = replace(v, used_at=now)

    def add_session(
        self, user_id: int, placeholder_hash: str, ip: str, user_agent: str, now: datetime, expires_at: datetime
    ) -> UserSession:
        session = UserSession(len(self.sessions) + 1, user_id, ip, user_agent, now, expires_at)
        self.sessions[session.id], self.refresh_hashes[session.id] = replace(session), placeholder_hash
        self.seen.append(session)
        return session

    def session(self, session_id: int, *, for_update: bool = False) -> UserSession | None:
        found = self.sessions.get(session_id)
        return None if found is None else replace(found)

    def session_by_refresh_hash(self, refresh_hash: str) -> UserSession | None:
        found = next((i for i, h in self.refresh_hashes.items() if h == refresh_hash), None)
        return None if found is None else self.session(found)

    def set_refresh_hash(self, session_id: int, refresh_hash: str) -> None:
        self.refresh_hashes[session_id] = refresh_hash

    def save_refresh(self, session: UserSession, refresh_hash: str) -> None:
        self.seen.append(session)
        self.sessions[session.id], self.refresh_hashes[session.id] = replace(session), refresh_hash

    def save_revoked(self, session: UserSession) -> None:
        self.seen.append(session)
        self.sessions[session.id] = replace(session)

    def live_sessions(self, user_id: int, now: datetime, *, for_update: bool = False) -> list[UserSession]:
        mine = [s for s in self.sessions.values() if s.user_id == user_id and s.live(now)]
        return [replace(s) for s in sorted(mine, key=lambda s: -s.id)]


class FakeTwoFactorRepository:
    """Nobody has two-factor authentication on: the sign-ins here are password ones."""

    def __init__(self) -> None:
        self.seen: list[TwoFactorAccount] = []

    def get(self, user_id: int, *, for_update: bool = False) -> TwoFactorAccount | None:
        return None

    def save(self, account: TwoFactorAccount, now: datetime) -> None:
        raise AssertionError("no two-factor state changes in a password sign-in")

    def save_state(self, user_id: int, state: TwoFactor, now: datetime) -> None:
        raise AssertionError("no two-factor state changes in a password sign-in")


class FakeDunningRepository:
    def __init__(self) -> None:
        self.holds: dict[tuple[AccountType, int], BillingHold] = {}

    def hold(self, account_type: AccountType, account_id: int) -> BillingHold | None:
        return self.holds.get((account_type, account_id))

    def keep(self, hold: BillingHold) -> None:
        assert (hold.account_type, hold.account_id) not in self.holds, "one hold per account (primary key)"
        self.holds[hold.account_type, hold.account_id] = hold

    def release(self, account_type: AccountType, account_id: int) -> bool:
        return self.holds.pop((account_type, account_id), None) is not None


class FakeUnitOfWork(IdentityUnitOfWork):
    users: FakeUserRepository
    organizations: FakeOrganizationRepository
    api_keys: FakeApiKeyRepository
    login_activity: FakeLoginActivityRepository
    quotas: FakeQuotaRepository
    settings: FakeSettingRepository
    accounts: FakeAccountRepository
    two_factor: FakeTwoFactorRepository
    dunning: FakeDunningRepository
    passwords: FakePasswordHasher

    def __init__(self, settings: dict[str, tuple[SettingType, str]] | None = None) -> None:
        self.users = FakeUserRepository()
        self.organizations = FakeOrganizationRepository()
        self.api_keys = FakeApiKeyRepository()
        self.login_activity = FakeLoginActivityRepository()
        self.quotas = FakeQuotaRepository()
        self.settings = FakeSettingRepository(settings or {})
        self.accounts = FakeAccountRepository(self.users)
        self.two_factor = FakeTwoFactorRepository()
        self.dunning = FakeDunningRepository()
        self.passwords = FakePasswordHasher()
        self.secret_box = None
        self.pending: list[PendingEvent] = []
        self.committed: list[PendingEvent] = []
        self.commits = 0

    def __enter__(self) -> Self:
        self.pending = []
        self.users.seen.clear()
        self.organizations.seen.clear()
        self.api_keys.seen.clear()
        self.quotas.seen.clear()
        self.settings.seen.clear()
        self.accounts.seen.clear()
        self.two_factor.seen.clear()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def record(self, event: PendingEvent) -> None:
        self.pending.append(event)

    def commit(self) -> None:
        self.collect_events()
        self.committed += self.pending
        self.pending = []
        self.commits += 1

    def rollback(self) -> None:
        self.pending = []

    def committed_types(self) -> list[str]:
        return [e.envelope.event_type for e in self.committed]
