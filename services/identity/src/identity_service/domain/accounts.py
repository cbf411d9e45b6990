"""A person's own account: email verification, sign-in sessions, the profile and its rules."""

from __future__ import annotations

import re
import secrets
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from cpshared.errors import InvalidInput
from identity_service.domain.aggregate import Aggregate
from identity_service.domain.events import (
    EmailVerified,
    PasswordChanged,
    PasswordReset,
    ProfileUpdated,
    Recorded,
    SessionCreated,
    SessionRefreshed,
    SessionRevoked,
)
from identity_service.domain.model import UserRole, UserStatus, check_name

SIGNUP_ENABLED_SETTING = "signup_enabled"
VERIFICATION_LIFETIME = timedelta(hours=24)
RESEND_INTERVAL = timedelta(minutes=1)
SESSION_LIFETIME = timedelta(days=30)
PASSWORD_RESET_MINUTES_SETTING = "password_reset_minutes"  # noqa: S105 - a setting key, not a password
PASSWORD_RESET_LIFETIME = timedelta(minutes=30)
"""How long a reset token is valid when the setting is missing or unusable."""
PASSWORD_RESET_INTERVAL = timedelta(minutes=1)
"""At most one reset mail a minute per account."""


def new_verification_token() -> str:
    """32 random bytes, URL-safe: it travels in a link."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class EmailVerification:
    id: int
    user_id: int
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None

    def refusal(self, now: datetime) -> str | None:
        if self.used_at is not None:
            return "this verification link was used already: sign in, or ask for a new link"
        if self.expires_at <= now:
            return "this verification link has expired: ask for a new one (POST /v1/auth/verify/resend)"
        return None


@dataclass(frozen=True)
class PasswordResetToken:
    """A reset mail sent: its token's SHA-256 is the row's key, the token only in the mail."""

    id: int
    user_id: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None

    def refusal(self, now: datetime) -> str | None:
        if self.used_at is not None:
            return "this password reset link was used already (or a newer one was sent): ask for a new one"
        if self.expires_at <= now:
            return "this password reset link has expired: ask for a new one (POST /v1/auth/password_reset)"
        return None


@dataclass
class UserSession(Aggregate):
    """A sign-in session: opened, refreshed (its refresh token rotated) and revoked."""

    id: int
    user_id: int
    ip_address: str
    user_agent: str
    created_at: datetime
    expires_at: datetime
    refreshed_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 1
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def opened(self) -> None:
        """Announce the new session, at the version it was created at."""
        self._record(
            SessionCreated(session_id=self.id, user_id=self.user_id, ip=self.ip_address, expires_at=self.expires_at),
            bump=False,
        )

    def refresh(self, ip: str, user_agent: str, now: datetime) -> None:
        self.ip_address, self.user_agent, self.refreshed_at = ip, user_agent, now
        self._record(SessionRefreshed(session_id=self.id, user_id=self.user_id, ip=ip))

    def revoke(self, now: datetime, reason: str, revoked_by_user_id: int) -> None:
        """End the session; ``revoked_by_user_id`` 0 when nobody asked (a reused refresh token)."""
        self.revoked_at = now
        self._record(
            SessionRevoked(
                session_id=self.id, user_id=self.user_id, reason=reason, revoked_by_user_id=revoked_by_user_id
            )
        )


class RevokeReason:
    LOGOUT = "logout"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - a reason, not a token
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a password


# -- profile ------------------------------------------------------------------------------

PROFILE_FIELDS = (
    "name",
    "company_name",
    "tax_id",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "timezone",
    "locale",
)


@dataclass
class Profile(Aggregate):
    """The user aggregate as its holder sees and changes it: the profile, the password and
    the email verification. Its version is the user's."""

    id: int
    name: str
    email: str
    role: UserRole
    status: UserStatus
    created_at: datetime
    email_verified_at: datetime | None = None
    company_name: str = ""
    tax_id: str = ""
    phone: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    timezone: str = ""
    locale: str = ""
    version: int = 1
    events: list[Recorded] = field(default_factory=list, init=False, repr=False, compare=False)

    def verify_email(self, verification_id: int, now: datetime) -> bool:
        """The address is proved: a pending account becomes active. False when it was verified already."""
        if self.email_verified_at is not None:
            return False
        self.email_verified_at = now
        if self.status is UserStatus.PENDING:
            self.status = UserStatus.ACTIVE
        self._record(EmailVerified(user_id=self.id, verification_id=verification_id, status=self.status.value))
        return True

    def update(self, wanted: dict[str, str]) -> dict[str, str]:
        """Set the fields in ``wanted`` ('' clears one); the ones that changed (the event names only those)."""
        changes = profile_changes(self, wanted)
        if not changes:
            return changes
        for name, value in changes.items():
            setattr(self, name, value)
        self._record(
            ProfileUpdated(
                user_id=self.id,
                changed_fields=tuple(sorted(changes)),
                country=self.country if "country" in changes else None,
                tax_id=self.tax_id if "tax_id" in changes else None,
            )
        )
        return changes

    def password_changed(self, revoked_sessions: int) -> None:
        """A new password is stored (the caller proved the current one); ``revoked_sessions`` ended with it."""
        self._record(PasswordChanged(user_id=self.id, revoked_sessions=revoked_sessions))

    def password_reset(self, revoked_sessions: int, unlocked: bool) -> None:
        """A new password is stored with a reset token from the mail; every session ended with it."""
        self._record(PasswordReset(user_id=self.id, revoked_sessions=revoked_sessions, unlocked=unlocked))


# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
    HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
    NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
    SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
    UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()  # noqa: SIM905 - a table, read as one
)
MAX_LENGTHS = {
    "company_name": 255,
    "tax_id": 50,
    "phone": 20,
    "address_line1": 255,
    "address_line2": 255,
    "city": 100,
    "state": 100,
    "postal_code": 20,
}
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-./]{2,19}$")
LOCALE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?$")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_profile_value(name: str, value: str) -> str:
    """The value to store for profile field ``name`` ('' clears it); InvalidInput saying what to send."""
    value = value.strip()
    if name == "name":
        return check_name(value)
    if name not in PROFILE_FIELDS:
        raise InvalidInput(f"{name!r} is not a profile field: use one of {', '.join(PROFILE_FIELDS)}")
    if not value:
        return ""
    limit = MAX_LENGTHS.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"{name} holds at most {limit} characters")
    if name == "phone" and not PHONE.match(value):
        raise InvalidInput("phone must be digits, with spaces and + ( ) - . / allowed, e.g. '+49 30 1234567'")
    if name == "country":
        value = value.upper()
        if value not in COUNTRIES:
            raise InvalidInput(f"country {value!r} is not an ISO 3166-1 alpha-2 code: send e.g. 'DE' or 'US'")
    if name == "timezone" and value not in _timezones():
        raise InvalidInput(f"timezone {value!r} is not an IANA time zone: send e.g. 'Europe/Berlin' or 'UTC'")
    if name == "locale" and not LOCALE.match(value):
        raise InvalidInput(f"locale {value!r} is not a locale: send e.g. 'en' or 'de-DE'")
    return value


def profile_changes(profile: Profile, wanted: dict[str, str]) -> dict[str, str]:
    """The checked values of ``wanted`` that differ from ``profile``, by field name."""
    changes: dict[str, str] = {}
    for name, value in wanted.items():
        checked = check_profile_value(name, value)
        if checked != getattr(profile, name):
            changes[name] = checked
    return changes
