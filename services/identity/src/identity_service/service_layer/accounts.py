"""Account use cases: sign-up and email verification, sessions, profile, password and its reset.

Each runs in one unit of work and records its events in the same transaction. Tokens
(verification, access, refresh) are made here and returned to the caller; only their SHA-256
is stored, and none of them is ever logged or put in an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpshared.auth.principal import PRINCIPAL_LIFETIME, Principal, user_principal
from cpshared.auth.session_token import (
    AccessClaims,
    new_access_claims,
    new_refresh_token,
    refresh_mac_key,
    refresh_token_session,
    sign_access_token,
    token_digest,
    verify_access_token,
)
from cpshared.clock import utcnow
from cpshared.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, Unauthenticated, Unavailable
from cpshared.logging import get_logger
from cpshared.mail import MailError
from identity_service.domain import commands
from identity_service.domain.accounts import (
    PASSWORD_RESET_INTERVAL,
    PASSWORD_RESET_LIFETIME,
    PASSWORD_RESET_MINUTES_SETTING,
    RESEND_INTERVAL,
    SESSION_LIFETIME,
    SIGNUP_ENABLED_SETTING,
    VERIFICATION_LIFETIME,
    Profile,
    RevokeReason,
    UserSession,
    new_verification_token,
)
from identity_service.domain.model import ADMIN_SCOPES, UserRole, UserStatus, normalise_email, sign_in_subject
from identity_service.domain.passwords import check_new_password
from identity_service.service_layer.credential_failures import checked_ip, guarded, refuse_counted, throttle_key
from identity_service.service_layer.logins import USER_AGENT_MAX, login
from identity_service.service_layer.ports import MailSender
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork, UnitOfWorkFactory
from identity_service.service_layer.users import add_user

log = get_logger(__name__)

SESSION_SCOPES = ADMIN_SCOPES
"""A signed-in person acts with the user's full rights: every family, read and write."""
VERIFY_SUBJECT = "Verify your email address"
RESET_SUBJECT = "Reset your password"
RESET_DONE_SUBJECT = "Your password was reset"
BAD_REFRESH = "the refresh token is not valid: sign in again"


@dataclass(frozen=True)
class SignUp:
    name: str
    email: str
    password: str = field(repr=False)
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class CreateSession:
    email: str
    password: str = field(repr=False)
    ip: str
    user_agent: str = ""
    totp_code: str = field(default="", repr=False)
    recovery_code: str = field(default="", repr=False)


@dataclass(frozen=True)
class SessionTokens:
    access_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_token: str = field(repr=False)
    refresh_expires_at: datetime


@dataclass(frozen=True)
class PendingMail:
    """A mail to send once the transaction that made its token committed: a verification link, a
    password reset token, or (``token`` None) the notice that the email has an account already."""

    to: str
    token: str | None = field(repr=False)
    minutes: int = 0
    """How long the token is valid (a password reset's; 0 for a verification)."""


# -- sign-up and verification -------------------------------------------------------------


def sign_up(cmd: SignUp, uow: IdentityUnitOfWork) -> tuple[Profile | None, PendingMail]:
    """A pending client account and its first verification token, in one transaction; for an
    email that has an account already, nothing is made and the mail tells its owner so.

    The caller answers the same either way (the gateway's 202), so sign-up tells nobody which
    emails have an account; the password is hashed in both cases, so neither is faster. The
    caller sends the mail (:func:`send_verification`) after this returned: a mail never
    announces an account that was rolled back.
    """
    token = new_verification_token()
    with uow:
        setting = uow.settings.get(SIGNUP_ENABLED_SETTING)
        if setting is not None and setting.typed_value() is False:
            raise Forbidden("sign-up is closed: ask an administrator to create your account")
        try:
            user = add_user(
                commands.CreateUser(
                    name=cmd.name,
                    email=cmd.email,
                    password=cmd.password,
                    role=UserRole.CLIENT,
                    status=UserStatus.PENDING,
                ),
                uow,
            )
        except AlreadyExists:
            return None, PendingMail(to=normalise_email(cmd.email), token=None)
        uow.accounts.add_verification(
            user.id, user.email, token_digest(token), user.created_at, user.created_at + VERIFICATION_LIFETIME
        )
        profile = _profile(uow, user.id)
        uow.commit()
    return profile, PendingMail(to=user.email, token=token)


EXISTING_ACCOUNT_SUBJECT = "You already have an account"


def existing_account_mail(public_url: str) -> tuple[str, str]:
    """(subject, body) of the mail a sign-up with an email that has an account sends its owner."""
    base = public_url.rstrip("/")
    body = (
        "Someone, perhaps you, tried to sign up to Cloud Platform with this email address.\n\n"
        "You already have an account: sign in with it (POST /v1/auth/login), or, if you forgot the "
        f"password, ask for a new one. Cloud Platform: {base}\n\n"
        "If it was not you, ignore this mail: nothing was changed.\n"
    )
    return EXISTING_ACCOUNT_SUBJECT, body


def verification_mail(public_url: str, token: str) -> tuple[str, str]:
    """(subject, body) of the mail that carries a verification token."""
    link = f"{public_url.rstrip('/')}/v1/auth/verify?token={token}"
    body = (
        "Welcome to Cloud Platform.\n\n"
        f"Open this link within 24 hours to verify your email address and activate your account:\n\n{link}\n\n"
        f"Or send this token to POST /v1/auth/verify: {token}\n\n"
        "If you did not sign up, ignore this mail: the account stays inactive.\n"
    )
    return VERIFY_SUBJECT, body


def send_verification(send: MailSender, public_url: str, mail: PendingMail) -> bool:
    """Send a verification mail; a failure is logged (never the token) and answered False:
    the account stays, and ResendVerification sends another link."""
    if mail.token is None:
        subject, body = existing_account_mail(public_url)
    else:
        subject, body = verification_mail(public_url, mail.token)
    try:
        send(mail.to, subject, body)
    except MailError as exc:
        log.warning("verification_mail_failed", error=str(exc))
        return False
    return True


def verify_email(token: str, uow: IdentityUnitOfWork) -> Profile:
    if not token:
        raise InvalidInput("send the token from the verification mail")
    now = utcnow()
    with uow:
        verification = uow.accounts.verification_by_hash(token_digest(token))
        if verification is None:
            raise InvalidInput("this verification link is not valid: copy the whole link, or ask for a new one")
        refusal = verification.refusal(now)
        if refusal is not None:
            raise InvalidInput(refusal)
        profile = uow.accounts.profile(verification.user_id, for_update=True)
        if profile is None or profile.email != verification.email:
            raise InvalidInput("this verification link is for an email the account no longer has: ask for a new one")
        uow.accounts.mark_verification_used(verification.id, now)
        if profile.verify_email(verification.id, now):
            uow.accounts.mark_email_verified(profile, now)
        uow.commit()
    return profile


def resend_verification(email: str, uow: IdentityUnitOfWork) -> PendingMail | None:
    """A new token for a pending account, at most one a minute; None otherwise. The caller
    answers the same either way, so the answer tells nobody whether an account exists."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return None
    token = new_verification_token()
    now = utcnow()
    with uow:
        user = uow.users.by_email(email, for_update=True)  # serialises concurrent resends
        if user is None or user.status is not UserStatus.PENDING:
            return None
        latest = uow.accounts.latest_verification_sent(user.id)
        if latest is not None and now - latest < RESEND_INTERVAL:
            return None
        uow.accounts.add_verification(user.id, user.email, token_digest(token), now, now + VERIFICATION_LIFETIME)
        uow.commit()
    return PendingMail(to=user.email, token=token)


# -- sessions -----------------------------------------------------------------------------


def _key(signing_key: Ed25519PrivateKey | None) -> Ed25519PrivateKey:
    if signing_key is None:
        raise Unavailable("this identity service has no signing key configured: sessions cannot be opened")
    return signing_key


def _tokens(key: Ed25519PrivateKey, session: UserSession, refresh_token: str, now: datetime) -> SessionTokens:
    claims = new_access_claims(session.id, session.user_id, now=now, session_expires_at=session.expires_at)
    return SessionTokens(
        access_token=sign_access_token(claims, key),
        access_expires_at=claims.expires_at,
        refresh_token=refresh_token,
        refresh_expires_at=session.expires_at,
    )


def create_session(
    cmd: CreateSession, signing_key: Ed25519PrivateKey | None, uow_factory: UnitOfWorkFactory
) -> tuple[UserSession, SessionTokens, Profile]:
    """Sign in (the Login use case: recorded, lockout, two-factor), then open a session."""
    key = _key(signing_key)
    user = login(
        commands.Login(
            email=cmd.email,
            password=cmd.password,
            ip=cmd.ip,
            user_agent=cmd.user_agent,
            totp_code=cmd.totp_code,
            recovery_code=cmd.recovery_code,
        ),
        uow_factory(),
    )
    ip, user_agent = checked_ip(cmd.ip), cmd.user_agent[:USER_AGENT_MAX]
    now = utcnow()
    with uow_factory() as uow:
        # The refresh token names its session, so the row comes first with a throwaway hash.
        placeholder = token_digest(new_verification_token())
        session = uow.accounts.add_session(user.id, placeholder, ip, user_agent, now, now + SESSION_LIFETIME)
        refresh_token = new_refresh_token(session.id, refresh_mac_key(key))
        uow.accounts.set_refresh_hash(session.id, token_digest(refresh_token))
        session.opened()
        profile = _profile(uow, user.id)
        uow.commit()
    return session, _tokens(key, session, refresh_token, now), profile


def refresh_session(
    refresh_token: str, ip: str, user_agent: str, signing_key: Ed25519PrivateKey | None, uow: IdentityUnitOfWork
) -> tuple[UserSession, SessionTokens]:
    """Rotate the refresh token. The session row is locked for the exchange, so of two
    refreshes with one token only the first succeeds; the second presents a rotated token,
    which is what a thief's copy looks like, and revokes the session."""
    key = _key(signing_key)
    ip, user_agent = checked_ip(ip), user_agent[:USER_AGENT_MAX]
    mac_key = refresh_mac_key(key)
    now = utcnow()
    with uow:
        session = uow.accounts.session_by_refresh_hash(token_digest(refresh_token)) if refresh_token else None
        if session is None:
            _revoke_if_reused(uow, refresh_token, mac_key, now)
            raise Unauthenticated(BAD_REFRESH)
        if session.revoked_at is not None:
            raise Unauthenticated("the session was ended (signed out or revoked): sign in again")
        if session.expires_at <= now:
            raise Unauthenticated("the session has expired: sign in again")
        user = uow.users.get(session.user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            raise Unauthenticated("the account is not active: contact support")
        new_token = new_refresh_token(session.id, mac_key)
        session.refresh(ip, user_agent, now)
        uow.accounts.save_refresh(session, token_digest(new_token))
        uow.commit()
    return session, _tokens(key, session, new_token, now)


def _revoke_if_reused(uow: IdentityUnitOfWork, refresh_token: str, mac_key: bytes, now: datetime) -> None:
    """A genuine refresh token that is no longer the session's current one was exchanged
    before: someone else holds a copy. The session ends for both, and the refusal is
    raised after the commit so the revocation stands."""
    session_id = refresh_token_session(refresh_token, mac_key) if refresh_token else None
    if session_id is None:
        return
    session = uow.accounts.session(session_id, for_update=True)
    if session is None or not session.live(now):
        return
    session.revoke(now, RevokeReason.REFRESH_TOKEN_REUSED, revoked_by_user_id=0)
    uow.accounts.save_revoked(session)
    uow.commit()
    log.warning("refresh_token_reused", session_id=session.id, user_id=session.user_id)
    raise Unauthenticated(
        "this refresh token was used already, so it may have been copied: the session is ended; sign in again"
    )


def revoke_session(
    session_id: int, uow: IdentityUnitOfWork, *, owner_id: int | None = None, acting_user_id: int = 0
) -> UserSession:
    """End a session; with ``owner_id`` only a session of that user (another's answers as missing)."""
    with uow:
        session = uow.accounts.session(session_id, for_update=True)
        if session is None or (owner_id is not None and session.user_id != owner_id):
            raise NotFound(f"session {session_id} does not exist")
        if session.revoked_at is not None:
            return session
        session.revoke(utcnow(), RevokeReason.LOGOUT, revoked_by_user_id=acting_user_id)
        uow.accounts.save_revoked(session)
        uow.commit()
    return session


def list_sessions(user_id: int, uow: IdentityUnitOfWork) -> list[UserSession]:
    with uow:
        return uow.accounts.live_sessions(user_id, utcnow())


def principal_for_session(access_token: str, signing_key: Ed25519PrivateKey, uow: IdentityUnitOfWork) -> Principal:
    """The signed-in user behind a live session's access token, with the user's full rights."""
    now = utcnow()
    claims: AccessClaims = verify_access_token(access_token, signing_key.public_key(), now)
    with uow:
        session = uow.accounts.session(claims.session_id)
        if session is None or session.user_id != claims.user_id or not session.live(now):
            raise Unauthenticated("the session was ended (signed out, revoked or expired): sign in again")
        user = uow.users.get(session.user_id)
        if user is None or user.status is not UserStatus.ACTIVE:
            raise Unauthenticated("the account is not active: contact support")
        memberships = uow.organizations.of_user(user.id)
    # Never outlives the access token it stands for.
    lifetime = max(timedelta(seconds=1), min(PRINCIPAL_LIFETIME, claims.expires_at - now.replace(microsecond=0)))
    return user_principal(
        user_id=user.id,
        role=user.role.value,
        organizations={m.organization_id: m.role.value for _, m in memberships},
        api_key_id=0,
        scopes=SESSION_SCOPES,
        now=now,
        lifetime=lifetime,
    )


# -- profile and password -----------------------------------------------------------------


def _profile(uow: IdentityUnitOfWork, user_id: int, *, for_update: bool = False) -> Profile:
    profile = uow.accounts.profile(user_id, for_update=for_update)
    if profile is None:
        raise NotFound(f"user {user_id} does not exist")
    return profile


def get_profile(user_id: int, uow: IdentityUnitOfWork) -> Profile:
    with uow:
        return _profile(uow, user_id)


def update_profile(user_id: int, wanted: dict[str, str], uow: IdentityUnitOfWork) -> Profile:
    """Set the fields in ``wanted`` ('' clears one); the event names the changed fields only."""
    now = utcnow()
    with uow:
        profile = _profile(uow, user_id, for_update=True)
        changes = profile.update(wanted)
        if not changes:
            return profile
        uow.accounts.save_profile(profile, changes, now)
        uow.commit()
    return profile


def change_password(
    user_id: int,
    current_password: str,
    new_password: str,
    keep_session_id: int,
    uow: IdentityUnitOfWork,
    *,
    ip: str = "",
) -> int:
    """Store the new password and end every session but ``keep_session_id``; how many ended.

    A wrong current password counts towards the (account, ``ip``) pair's failures like a wrong
    password at sign-in, so a stolen session cannot guess it without limit."""
    address = throttle_key(ip)
    now = utcnow()
    with uow:
        profile = _profile(uow, user_id, for_update=True)
        check_new_password(new_password, email=profile.email, name=profile.name)
        pair = guarded(uow, profile.email, address, now)
        if not uow.passwords.verify(uow.accounts.password_hash(user_id), current_password).ok:
            refuse_counted(
                uow, pair, now, InvalidInput("the current password is wrong: send the password you sign in with now")
            )
        new_hash = uow.passwords.hash(new_password)
        ended = [s for s in uow.accounts.live_sessions(user_id, now, for_update=True) if s.id != keep_session_id]
        for session in ended:
            session.revoke(now, RevokeReason.PASSWORD_CHANGED, revoked_by_user_id=user_id)
            uow.accounts.save_revoked(session)
        profile.password_changed(revoked_sessions=len(ended))
        uow.accounts.save_password(profile, new_hash, now)
        uow.commit()
    return len(ended)


# -- password reset -----------------------------------------------------------------------


def password_reset_lifetime(uow: IdentityUnitOfWork) -> timedelta:
    """How long a reset token is valid: the setting ``password_reset_minutes``; a missing or
    unusable value falls back to 30 minutes."""
    setting = uow.settings.get(PASSWORD_RESET_MINUTES_SETTING)
    value = setting.typed_value() if setting is not None else None
    return timedelta(minutes=value) if type(value) is int and value >= 1 else PASSWORD_RESET_LIFETIME


def request_password_reset(email: str, uow: IdentityUnitOfWork) -> PendingMail | None:
    """A new reset token for an active account (a locked one too: the reset lifts the lock),
    at most one a minute; it ends the account's older open tokens. None otherwise. The caller
    answers the same either way, so the answer tells nobody whether an account exists."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return None
    token = new_verification_token()
    now = utcnow()
    with uow:
        user = uow.users.by_email(email, for_update=True)  # serialises concurrent requests
        if user is None or user.status is not UserStatus.ACTIVE:
            return None
        latest = uow.accounts.latest_password_reset_sent(user.id)
        if latest is not None and now - latest < PASSWORD_RESET_INTERVAL:
            return None
        lifetime = password_reset_lifetime(uow)
        uow.accounts.end_password_resets(user.id, now)
        uow.accounts.add_password_reset(user.id, token_digest(token), now, now + lifetime)
        uow.commit()
    return PendingMail(to=user.email, token=token, minutes=int(lifetime.total_seconds() // 60))


def password_reset_mail(public_url: str, mail: PendingMail) -> tuple[str, str]:
    """(subject, body) of the mail that carries a reset token."""
    body = (
        "Someone asked to reset the password of your Cloud Platform account.\n\n"
        f"Within {mail.minutes} minutes, send this token with your new password to "
        f"POST {public_url.rstrip('/')}/v1/auth/password_reset/confirm:\n\n"
        f"reset token: {mail.token}\n\n"
        "Every session of the account ends with the reset; two-factor authentication stays on.\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n"
    )
    return RESET_SUBJECT, body


def send_password_reset(send: MailSender, public_url: str, mail: PendingMail) -> bool:
    """Send a reset mail; a failure is logged (never the token) and answered False."""
    subject, body = password_reset_mail(public_url, mail)
    try:
        send(mail.to, subject, body)
    except MailError as exc:
        log.warning("password_reset_mail_failed", error=str(exc))
        return False
    return True


def send_password_reset_done(send: MailSender, to: str) -> bool:
    """Tell the account's holder that its password was reset (the notification of the change)."""
    body = (
        "The password of your Cloud Platform account was reset with a link sent to this address, "
        "and every session of the account was ended.\n\n"
        "If this was not you, reset the password again at once and contact support.\n"
    )
    try:
        send(to, RESET_DONE_SUBJECT, body)
    except MailError as exc:
        log.warning("password_reset_notice_failed", error=str(exc))
        return False
    return True


def confirm_password_reset(token: str, new_password: str, uow: IdentityUnitOfWork) -> tuple[Profile, int]:
    """Store the new password with a reset token: every session of the user ends, a lockout
    is lifted, every open reset token of the user is used up; two-factor stays as it was.
    (profile, sessions ended). A refusal changes nothing."""
    if not token:
        raise InvalidInput("send the token from the password reset mail")
    check_new_password(new_password)
    new_hash = uow.passwords.hash(new_password)
    now = utcnow()
    with uow:
        reset = uow.accounts.password_reset_by_hash(token_digest(token))
        if reset is None:
            raise InvalidInput("this password reset token is not valid: copy the whole token, or ask for a new one")
        refusal = reset.refusal(now)
        if refusal is not None:
            raise InvalidInput(refusal)
        profile = _profile(uow, reset.user_id, for_update=True)
        if profile.status is not UserStatus.ACTIVE:
            raise InvalidInput(f"the account is {profile.status.value}: a password reset cannot reopen it")
        locked_until = uow.accounts.locked_until(profile.id)
        ended = uow.accounts.live_sessions(profile.id, now, for_update=True)
        for session in ended:
            session.revoke(now, RevokeReason.PASSWORD_RESET, revoked_by_user_id=profile.id)
            uow.accounts.save_revoked(session)
        uow.accounts.end_password_resets(profile.id, now)
        # The sign-in failures of every address are forgotten: the owner proved who they are.
        blocked_pairs = uow.login_activity.clear_subject(sign_in_subject(profile.email), now)
        unlocked = blocked_pairs > 0 or (locked_until is not None and locked_until > now)
        profile.password_reset(revoked_sessions=len(ended), unlocked=unlocked)
        uow.accounts.save_reset_password(profile, new_hash, now)
        uow.commit()
    return profile, len(ended)
