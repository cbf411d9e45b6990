"""Failed credential checks counted per (account, client address): the sign-in's wrong
passwords and codes, and the current password or two-factor code a signed-in user is asked
for (a stolen session must not guess them without limit either). The rule is the domain's
:class:`identity_service.domain.model.SignInFailures`; the lockout policy (how many failures
lock, for how long) is in system_settings."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import NoReturn

from cpshared.errors import InvalidInput, RateLimited
from identity_service.domain.model import (
    LOGIN_LOCKOUT_MINUTES_SETTING,
    LOGIN_MAX_FAILURES_SETTING,
    LockoutPolicy,
    SignInFailures,
    sign_in_subject,
)
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork


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


TOO_MANY_CREDENTIAL_FAILURES = "too many wrong passwords or codes for this account from your address"


def throttle_key(ip: str) -> str:
    """The address a credential check is counted under: the checked IP, ``-`` when none (or no
    address) came with the call."""
    try:
        return checked_ip(ip)
    except InvalidInput:
        return "-"


def guarded(uow: IdentityUnitOfWork, email: str, ip: str, now: datetime) -> SignInFailures:
    """The failures of (``email``'s account, ``ip`` — a :func:`throttle_key`), the pair's row
    locked for the unit of work; RateLimited (429 with Retry-After) while the pair must wait,
    before any password or code is checked."""
    failures = uow.login_activity.failures(sign_in_subject(email), ip).current(lockout_policy(uow), now)
    wait = failures.retry_after(now)
    if wait is not None:
        raise RateLimited(TOO_MANY_CREDENTIAL_FAILURES, retry_after=wait)
    return failures


def refuse_counted(uow: IdentityUnitOfWork, failures: SignInFailures, now: datetime, error: Exception) -> NoReturn:
    """Count a failed check of the pair, commit it, then raise ``error``: the count stands."""
    count_failure(uow, failures, now)
    uow.commit()
    raise error


def count_failure(uow: IdentityUnitOfWork, failures: SignInFailures, now: datetime) -> SignInFailures:
    """One more failed check of the pair, stored in the unit of work (the caller commits)."""
    after = failures.failed(lockout_policy(uow), now)
    uow.login_activity.save_failures(after)
    return after
