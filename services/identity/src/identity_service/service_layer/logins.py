"""Sign-ins: one attempt checked against the password, the account's status, the second
factor and the lockout policy; every attempt recorded, whatever its outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cpshared.clock import utcnow
from cpshared.errors import Forbidden, InvalidInput, NotFound, RateLimited, TwoFactorRequired, Unauthenticated
from identity_service.domain import commands
from identity_service.domain.model import (
    STATUS_FAILURES,
    LockoutPolicy,
    LoginAttempt,
    LoginFailure,
    SignInFailures,
    User,
    UserStatus,
    normalise_email,
    sign_in_subject,
)
from identity_service.service_layer import two_factor
from identity_service.service_layer.credential_failures import checked_ip, count_failure, lockout_policy
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


TOO_MANY_FAILURES = (
    "too many failed sign-ins for this email from your address; the password was not checked. "
    "Sign in from another network, or reset the password"
)


def login(cmd: commands.Login, uow: IdentityUnitOfWork) -> User:
    """One sign-in attempt, recorded in login_activity whatever its outcome.

    Failures count per (email, client address) (:class:`SignInFailures`): past the first two,
    each wrong password or code makes that pair wait longer before its next attempt is even
    checked (1 s, 2 s, …), and the ``max_failures``-th locks the pair for the lockout time. Only the guessing address
    is slowed: the owner signs in from another one meanwhile. An unknown email counts exactly
    like a known one and both answer the same (401 for a wrong password, 429 while the pair
    waits), so neither the answer nor the lock tells which emails have an account.

    The attempt, the pair's count and the events commit in one transaction, and the refusal is
    raised only after that commit, so a failed attempt is never lost. The pair's row is locked
    (FOR UPDATE) for the attempt: concurrent guesses of one pair queue, and each sees the count
    the previous one committed. An unknown email is verified against a dummy hash, so it does
    not answer faster than a wrong password.
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
        pair = uow.login_activity.failures(sign_in_subject(email or cmd.email), ip).current(policy, now)
        user = uow.users.by_email(email, for_update=True) if email is not None else None
        wait = pair.retry_after(now)
        if wait is not None:
            # Not checked at all: a guesser learns nothing, and costs no password hash.
            if user is None:
                uow.login_activity.add(None, ip, user_agent, LoginFailure.LOCKED, now)
            else:
                _refused(uow, user, ip, user_agent, LoginFailure.LOCKED, policy, pair, now)
            uow.commit()
            raise RateLimited(TOO_MANY_FAILURES, retry_after=wait)
        if user is None:
            uow.passwords.verify(None, cmd.password)
            uow.login_activity.add(None, ip, user_agent, LoginFailure.UNKNOWN_EMAIL, now)
            count_failure(uow, pair, now)
            uow.commit()
            raise Unauthenticated(WRONG_CREDENTIALS)
        verdict = uow.passwords.verify(user.password_hash, cmd.password)
        if not verdict.ok:
            _refused(uow, user, ip, user_agent, LoginFailure.WRONG_PASSWORD, policy, count_failure(uow, pair, now), now)
            uow.commit()
            raise Unauthenticated(WRONG_CREDENTIALS)
        refusal = STATUS_FAILURES.get(user.status)
        if refusal is not None:
            # The status is told only to whoever knows the password.
            _refused(uow, user, ip, user_agent, refusal, policy, pair, now)
            uow.commit()
            if user.status is UserStatus.PENDING:
                raise Forbidden(
                    "the email address is not verified yet: follow the link in the verification mail, "
                    "or ask for a new one (POST /v1/auth/verify/resend)"
                )
            raise Forbidden(f"the account is {user.status.value}: contact support")
        second_factor = two_factor.second_factor_failure(cmd, user.id, uow)
        if second_factor is LoginFailure.TWO_FACTOR_REQUIRED:
            # Asking for the code is not a failed guess: it is not counted.
            _refused(uow, user, ip, user_agent, second_factor, policy, pair, now)
            uow.commit()
            raise TwoFactorRequired(TWO_FACTOR_REQUIRED)
        if second_factor is not None:
            _refused(uow, user, ip, user_agent, second_factor, policy, count_failure(uow, pair, now), now)
            uow.commit()
            raise Unauthenticated(WRONG_TWO_FACTOR_CODE)
        attempt = uow.login_activity.add(user.id, ip, user_agent, None, now)
        user.signed_in(attempt.id, ip, now)
        uow.users.save_login(user, now, succeeded_from=ip, password_hash=verdict.new_hash)
        uow.login_activity.clear_failures(pair.subject, ip)
        uow.commit()
    return replace(user, password_hash=None)


def _refused(
    uow: IdentityUnitOfWork,
    user: User,
    ip: str,
    user_agent: str,
    reason: LoginFailure,
    policy: LockoutPolicy,
    failures: SignInFailures,
    now: datetime,
) -> None:
    """Record a refused attempt of a known user (the caller commits): the user aggregate records
    the refusal, and the lock of the pair when this attempt caused one."""
    attempt = uow.login_activity.add(user.id, ip, user_agent, reason, now)
    user.sign_in_refused(attempt.id, ip, reason, policy, failures)
    uow.users.save_login(user, now, succeeded_from=None, password_hash=None)


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
