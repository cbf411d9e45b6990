"""Sign-ins: one attempt checked against the password, the account's status, the second
factor and the lockout policy; every attempt recorded, whatever its outcome."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import datetime, timedelta

from cpshared.clock import utcnow
from cpshared.errors import Forbidden, InvalidInput, NotFound, TwoFactorRequired, Unauthenticated
from identity_service.domain import commands
from identity_service.domain.model import (
    LOGIN_LOCKOUT_MINUTES_SETTING,
    LOGIN_MAX_FAILURES_SETTING,
    STATUS_FAILURES,
    LockoutPolicy,
    LoginAttempt,
    LoginFailure,
    User,
    UserStatus,
    normalise_email,
)
from identity_service.service_layer import two_factor
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

USER_AGENT_MAX = 1000
WRONG_CREDENTIALS = "the email or the password is wrong"
TWO_FACTOR_REQUIRED = (
    "this account has two-factor authentication on: send the current code of the authenticator app "
    "(totp_code) or one of the recovery codes (recovery_code) with the email and password"
)
WRONG_TWO_FACTOR_CODE = (
    "the two-factor code is wrong or was used already: send the current code of the authenticator app, "
    "or an unused recovery code"
)


def checked_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise InvalidInput(f"ip {ip!r} is not an IPv4 or IPv6 address: send the address the attempt came from") from (
            None
        )


def lockout_policy(uow: IdentityUnitOfWork) -> LockoutPolicy:
    """The policy in system_settings; a missing or unusable value falls back to the default."""
    default = LockoutPolicy()
    values: list[int] = []
    for key, fallback in (
        (LOGIN_MAX_FAILURES_SETTING, default.max_failures),
        (LOGIN_LOCKOUT_MINUTES_SETTING, int(default.lockout.total_seconds() // 60)),
    ):
        setting = uow.settings.get(key)
        value = setting.typed_value() if setting is not None else fallback
        values.append(value if type(value) is int and value >= 1 else fallback)
    return LockoutPolicy(max_failures=values[0], lockout=timedelta(minutes=values[1]))


def login(cmd: commands.Login, uow: IdentityUnitOfWork) -> User:
    """One sign-in attempt, recorded in login_activity whatever its outcome.

    The attempt, the lockout counter on the user row and the events commit in one
    transaction, and the refusal is raised only after that commit, so a failed attempt is
    never lost. The user row is locked (FOR UPDATE) for the attempt: concurrent guesses at
    one account queue, and each sees the count the previous one committed, so no burst of
    parallel tries gets more than the policy allows. An unknown email is verified against
    a dummy hash, a locked account too, so neither answers faster than a wrong password.
    """
    ip = checked_ip(cmd.ip)
    user_agent = cmd.user_agent[:USER_AGENT_MAX]
    try:
        email: str | None = normalise_email(cmd.email)
    except InvalidInput:
        email = None
    now = utcnow()
    with uow:
        policy = lockout_policy(uow)
        user = uow.users.by_email(email, for_update=True) if email is not None else None
        if user is None:
            uow.passwords.verify(None, cmd.password)
            uow.login_activity.add(None, ip, user_agent, LoginFailure.UNKNOWN_EMAIL, now)
            uow.commit()
            raise Unauthenticated(WRONG_CREDENTIALS)
        if user.login_state.locked(now):
            uow.passwords.verify(None, cmd.password)
            _refused(uow, user, ip, user_agent, LoginFailure.LOCKED, policy, now)
            raise Forbidden(
                f"too many wrong passwords: the account is locked until {user.locked_until:%Y-%m-%d %H:%M} UTC; "
                "try again then or reset the password"
            )
        verdict = uow.passwords.verify(user.password_hash, cmd.password)
        if not verdict.ok:
            _refused(uow, user, ip, user_agent, LoginFailure.WRONG_PASSWORD, policy, now)
            raise Unauthenticated(WRONG_CREDENTIALS)
        refusal = STATUS_FAILURES.get(user.status)
        if refusal is not None:
            # The status is told only to whoever knows the password.
            _refused(uow, user, ip, user_agent, refusal, policy, now)
            if user.status is UserStatus.PENDING:
                raise Forbidden(
                    "the email address is not verified yet: follow the link in the verification mail, "
                    "or ask for a new one (POST /v1/auth/verify/resend)"
                )
            raise Forbidden(f"the account is {user.status.value}: contact support")
        second_factor = two_factor.second_factor_failure(cmd, user.id, uow)
        if second_factor is LoginFailure.TWO_FACTOR_REQUIRED:
            # Asking for the code is not a failed guess: the user aggregate does not count it.
            _refused(uow, user, ip, user_agent, second_factor, policy, now)
            raise TwoFactorRequired(TWO_FACTOR_REQUIRED)
        if second_factor is not None:
            _refused(uow, user, ip, user_agent, second_factor, policy, now)
            raise Unauthenticated(WRONG_TWO_FACTOR_CODE)
        attempt = uow.login_activity.add(user.id, ip, user_agent, None, now)
        user.signed_in(attempt.id, ip, now)
        uow.users.save_login(user, now, succeeded_from=ip, password_hash=verdict.new_hash)
        uow.commit()
    return replace(user, password_hash=None)


def _refused(
    uow: IdentityUnitOfWork,
    user: User,
    ip: str,
    user_agent: str,
    reason: LoginFailure,
    policy: LockoutPolicy,
    now: datetime,
) -> None:
    """Record a refused attempt of a known user and commit it: the user aggregate counts it
    (or not) and records the refusal, and the lock when this attempt caused one."""
    attempt = uow.login_activity.add(user.id, ip, user_agent, reason, now)
    user.sign_in_refused(attempt.id, ip, reason, policy, now)
    uow.users.save_login(user, now, succeeded_from=None, password_hash=None)
    uow.commit()


DEFAULT_PER_PAGE, MAX_PER_PAGE = 25, 50


def list_login_activity(
    user_id: int, page: int, per_page: int, uow: IdentityUnitOfWork
) -> tuple[list[LoginAttempt], int, int, int]:
    """(attempts, page, per_page, total_entries): one page of a user's attempts, newest first."""
    page, per_page = page or 1, per_page or DEFAULT_PER_PAGE
    if page < 1:
        raise InvalidInput("page must be 1 or more")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be 1 to {MAX_PER_PAGE}")
    with uow:
        if uow.users.get(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        attempts, total = uow.login_activity.of_user(user_id, offset=(page - 1) * per_page, limit=per_page)
    return attempts, page, per_page, total
