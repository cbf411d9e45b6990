"""The outside world as the identity service layer sees it: the repositories a unit of work
holds, the password hasher, and mail. Adapters implement them (MariaDB: identity_service.adapters.repository_*;
SMTP: cpshared.mail, wired by the bootstrap as ``Identity.send_mail``); unit tests give
in-memory fakes. Nothing here knows a database or a wire format.

Time is the platform's one clock port, :class:`cpshared.clock.Clock` (``utcnow()``), which
tests replace with a ManualClock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from cpshared.auth.principal import Principal
from identity_service.domain.accounts import EmailVerification, PasswordResetToken, Profile, UserSession
from identity_service.domain.dunning import AccountType, BillingHold
from identity_service.domain.invitations import Invitation
from identity_service.domain.model import (
    ApiKey,
    LoginAttempt,
    LoginFailure,
    Membership,
    Organization,
    OrganizationRole,
    Quota,
    QuotaOwner,
    Reservation,
    Setting,
    SignInFailures,
    User,
    UserRole,
    UserStatus,
)
from identity_service.domain.passwords import Verdict
from identity_service.domain.staff import UserDetails, UserSearch
from identity_service.domain.two_factor import TwoFactor, TwoFactorAccount


class PasswordHasher(Protocol):
    """Makes and checks password hashes (argon2id in the service: adapters.passwords; a fast
    fake in unit tests). Never logs or keeps the password."""

    def hash(self, password: str) -> str: ...

    def verify(self, stored: str | None, password: str) -> Verdict:
        """Whether ``password`` matches ``stored``; with no stored hash it still takes as long
        as a real check (the answer time does not tell which accounts exist), and answers no.
        ``Verdict.new_hash``: a fresh hash to store when ``stored`` is legacy or outdated."""


class PrincipalSigner(Protocol):
    """Signs the assertion of a principal for the other services (Ed25519 in the service:
    adapters.principal_signer; a fake in unit tests)."""

    def sign(self, principal: Principal, /) -> str: ...


class MailSender(Protocol):
    def __call__(self, to: str, subject: str, body: str, /) -> str:
        """Hand one mail over for delivery; its Message-ID. Raises cpshared.mail.MailError."""
        ...


class UserRepository(Protocol):
    seen: list[User]
    """The users saved in this unit of work: it collects their recorded events on commit."""

    def add(self, name: str, email: str, password_hash: str, role: UserRole, status: UserStatus, now: datetime) -> User:
        """The new user; it joins :attr:`seen`."""

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """With ``for_update`` the user row is locked until the transaction ends."""

    def by_email(self, email: str, *, for_update: bool = False) -> User | None: ...

    def save_login(self, user: User, now: datetime, *, succeeded_from: str | None, password_hash: str | None) -> None:
        """The user's lockout state and version after an attempt; on success also when and from
        where. The user joins :attr:`seen`."""

    def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None: ...

    def save_status(self, user: User, now: datetime) -> None:
        """Its status and version; it joins :attr:`seen`."""

    def save_erased(self, user: User, now: datetime) -> None:
        """Remove the account's personal data and credentials; the id and role stay. It joins :attr:`seen`."""

    def admin_exists(self) -> bool: ...


class OrganizationRepository(Protocol):
    seen: list[Organization]
    """The organizations added or saved in this unit of work: it collects their events on commit."""

    def exists(self, organization_id: int) -> bool: ...

    def add(
        self, name: str, slug: str, owner_id: int, now: datetime, trial_ends_at: datetime | None = None
    ) -> Organization:
        """A new organization: active, or on trial until ``trial_ends_at`` when that is given."""

    def trials_over(self, now: datetime, limit: int) -> list[int]:
        """Ids of organizations on a trial whose end has come, oldest end first."""

    def slug_taken(self, slug: str) -> bool: ...

    def get(self, organization_id: int, *, for_update: bool = False) -> Organization | None:
        """With ``for_update`` the row is locked until the transaction ends: every change of
        an organization's members takes this lock first, so the one-owner rule is checked
        against members that no concurrent change is rewriting.
        """

    def save(self, organization: Organization, now: datetime) -> None:
        """Its details, owner, status and version; it joins :attr:`seen`."""

    def of_user(self, user_id: int) -> list[tuple[Organization, Membership]]: ...

    def add_member(self, member: Membership) -> None: ...

    def member(self, organization_id: int, user_id: int) -> Membership | None: ...

    def members(self, organization_id: int) -> list[Membership]: ...

    def set_role(self, organization_id: int, user_id: int, role: OrganizationRole) -> None: ...

    def set_permissions(self, organization_id: int, user_id: int, permissions: tuple[str, ...]) -> None: ...

    def remove_member(self, organization_id: int, user_id: int) -> None: ...


class LoginActivityRepository(Protocol):
    def add(
        self, user_id: int | None, ip_address: str, user_agent: str, failure: LoginFailure | None, now: datetime
    ) -> LoginAttempt: ...

    def of_user(self, user_id: int, *, offset: int, limit: int) -> tuple[list[LoginAttempt], int]:
        """One page of a user's attempts, newest first, and how many there are in all."""

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        """Delete at most ``limit`` of the oldest attempts made before ``cutoff``; how many."""

    def failures(self, subject: str, ip_address: str) -> SignInFailures:
        """The failed credential checks of (account, address), locked for this unit of work."""

    def save_failures(self, failures: SignInFailures) -> None: ...

    def clear_failures(self, subject: str, ip_address: str) -> None: ...

    def clear_subject(self, subject: str, now: datetime) -> int:
        """Forget every address's failures of ``subject`` (a password reset); how many were blocked at ``now``."""

    def delete_failures_before(self, cutoff: datetime, limit: int) -> int:
        """Forget at most ``limit`` pairs whose last wait ended before ``cutoff``; how many."""


class ApiKeyRepository(Protocol):
    seen: list[ApiKey]
    """The keys added or saved in this unit of work: it collects their events on commit."""

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
    ) -> ApiKey: ...

    def get(self, key_id: int, *, for_update: bool = False) -> ApiKey | None: ...

    def by_hash(self, key_hash: str) -> ApiKey | None: ...

    def of_user(self, user_id: int) -> list[ApiKey]: ...

    def save(self, key: ApiKey) -> None:
        """Write what the key's own methods changed (name, scopes, rate limit, expiry, revocation)."""

    def note_use(self, key_id: int, ip: str | None, now: datetime, every: timedelta) -> bool:
        """Record that the key was used now from ``ip``, unless that was recorded less than
        ``every`` ago: one conditional UPDATE, so a busy key costs a write a minute, not one a
        request, and concurrent replicas write it once (the row lock serialises them and the
        second finds the condition false). True when it wrote.
        """


class SettingRepository(Protocol):
    seen: list[Setting]
    """The settings updated in this unit of work: it collects their events on commit."""

    def get(self, key: str, *, for_update: bool = False) -> Setting | None: ...

    def update(self, setting: Setting) -> None: ...


class QuotaRepository(Protocol):
    seen: list[Quota]
    """The quotas saved in this unit of work: it collects their events on commit."""

    def create_if_missing(self, owner: QuotaOwner, resource_type: str, quota_limit: int, now: datetime) -> None:
        """INSERT IGNORE: of several callers creating the same quota at once, one row results."""

    def get(self, owner: QuotaOwner, resource_type: str, *, for_update: bool = False) -> Quota | None:
        """The quota row; with ``for_update``, locked until the transaction ends."""

    def lock_by_id(self, quota_id: int) -> Quota: ...

    def save(self, quota: Quota, now: datetime) -> None:
        """Its usage, limit and version."""

    def reservation(self, key: str) -> Reservation | None: ...

    def add_reservation(self, reservation: Reservation) -> None: ...

    def mark_released(self, reservation: Reservation) -> None: ...


class InvitationRepository(Protocol):
    def add(
        self,
        *,
        organization_id: int,
        email: str,
        role: OrganizationRole,
        permissions: tuple[str, ...],
        token_hash: str,
        invited_by: int,
        now: datetime,
        expires_at: datetime,
    ) -> Invitation: ...

    def get(self, invitation_id: int, *, for_update: bool = False) -> Invitation | None: ...

    def by_token_hash(self, token_hash: str, *, for_update: bool = False) -> Invitation | None: ...

    def open_for(self, organization_id: int, email: str) -> list[Invitation]:
        """Open invitations of an address (expired ones included: replacing them is harmless)."""

    def open_of_organization(self, organization_id: int, now: datetime) -> list[Invitation]: ...

    def revoke(self, invitation_id: int, now: datetime) -> None: ...

    def mark_accepted(self, invitation_id: int, user_id: int, now: datetime) -> None: ...


class AccountRepository(Protocol):
    seen: list[UserSession | Profile]
    """The sessions and profiles added or saved in this unit of work: it collects their events on commit."""

    def profile(self, user_id: int, *, for_update: bool = False) -> Profile | None:
        """The user's account and profile; with ``for_update`` the user row is locked."""

    def save_profile(self, profile: Profile, changes: dict[str, str], now: datetime) -> None:
        """The fields in ``changes`` and the version; the profile joins :attr:`seen` (as below)."""

    def mark_email_verified(self, profile: Profile, now: datetime) -> None: ...

    def save_password(self, profile: Profile, password_hash: str, now: datetime) -> None: ...

    def save_reset_password(self, profile: Profile, password_hash: str, now: datetime) -> None:
        """The new password, and no lockout left: the failure count and lock are cleared."""

    def locked_until(self, user_id: int) -> datetime | None: ...

    def password_hash(self, user_id: int) -> str | None: ...

    def add_password_reset(
        self, user_id: int, token_hash: str, now: datetime, expires_at: datetime
    ) -> PasswordResetToken: ...

    def password_reset_by_hash(self, token_hash: str) -> PasswordResetToken | None:
        """The reset row of a token, locked for the confirmation."""

    def latest_password_reset_sent(self, user_id: int) -> datetime | None: ...

    def end_password_resets(self, user_id: int, now: datetime) -> None:
        """Every open reset token of the user stops working."""

    def add_verification(
        self, user_id: int, email: str, token_hash: str, now: datetime, expires_at: datetime
    ) -> EmailVerification: ...

    def verification_by_hash(self, token_hash: str) -> EmailVerification | None: ...

    def latest_verification_sent(self, user_id: int) -> datetime | None: ...

    def mark_verification_used(self, verification_id: int, now: datetime) -> None: ...

    def add_session(
        self, user_id: int, placeholder_hash: str, ip: str, user_agent: str, now: datetime, expires_at: datetime
    ) -> UserSession:
        """A new session row; its refresh hash is set by :meth:`rotate` once its id is known
        (the refresh token names the session).
        """

    def session(self, session_id: int, *, for_update: bool = False) -> UserSession | None: ...

    def session_by_refresh_hash(self, refresh_hash: str) -> UserSession | None: ...

    def set_refresh_hash(self, session_id: int, refresh_hash: str) -> None: ...

    def save_refresh(self, session: UserSession, refresh_hash: str) -> None: ...

    def save_revoked(self, session: UserSession) -> None: ...

    def live_sessions(self, user_id: int, now: datetime, *, for_update: bool = False) -> list[UserSession]: ...


class StaffRepository(Protocol):
    def details(self, user_id: int, *, for_update: bool = False) -> UserDetails | None: ...

    def search(self, search: UserSearch, *, offset: int, limit: int) -> tuple[list[UserDetails], int]: ...

    def anonymise_login_activity(self, user_id: int) -> None: ...

    def live_api_keys(self, user_id: int) -> list[ApiKey]:
        """The user's unrevoked keys, locked until the transaction ends."""

    def revoke_sessions(self, user_id: int, now: datetime) -> int: ...

    def revoke_open_invitations(self, email: str, now: datetime) -> int: ...

    def member_count(self, organization_id: int) -> int: ...

    def settings(self) -> list[Setting]: ...

    def quotas(self, *, user_ids: list[int], organization_ids: list[int]) -> list[Quota]:
        """Quotas of the users and organizations given: users' first, then organizations'."""


class DunningRepository(Protocol):
    """Billing's holds: the accounts suspended because billing asked (domain/dunning.py)."""

    def hold(self, account_type: AccountType, account_id: int) -> BillingHold | None: ...

    def keep(self, hold: BillingHold) -> None: ...

    def release(self, account_type: AccountType, account_id: int) -> bool:
        """Forget the account's hold; False when it had none."""


class TwoFactorRepository(Protocol):
    seen: list[TwoFactorAccount]
    """The accounts saved in this unit of work: it collects their events on commit."""

    def get(self, user_id: int, *, for_update: bool = False) -> TwoFactorAccount | None:
        """The user's two-factor state, with the user's version and email; None when no such user.

        With ``for_update`` the user row is locked until the transaction ends, so two
        requests cannot both use one time step or one recovery code.
        """

    def save(self, account: TwoFactorAccount, now: datetime) -> None:
        """The state and the user's version (an event was recorded); the account joins :attr:`seen`."""

    def save_state(self, user_id: int, state: TwoFactor, now: datetime) -> None:
        """Only the state (enrolling, using up a code): no event, the user's version stays."""
