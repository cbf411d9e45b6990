"""The two-factor use cases: enrol, confirm, disable, regenerate recovery codes, status; and
the second-factor check of a sign-in (called by logins.login).

Each runs in one unit of work with the user row locked (FOR UPDATE): two requests cannot both
use one time step or one recovery code. The TOTP secret is sealed with the unit of work's
secret box before it is stored and opened only to check a code; recovery codes exist in clear
only in the answer that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cpshared.clock import utcnow
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed, Unavailable
from identity_service.domain import commands
from identity_service.domain.accounts import RevokeReason
from identity_service.domain.model import LoginFailure
from identity_service.domain.two_factor import (
    DISABLED,
    SealedSecretError,
    SecretBox,
    TwoFactor,
    TwoFactorAccount,
    check_code_given,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
)
from identity_service.service_layer.credential_failures import guarded, refuse_counted, throttle_key
from identity_service.service_layer.unit_of_work import IdentityUnitOfWork

NOT_CONFIGURED = (
    "two-factor authentication is not configured on this identity service: set CP_DATA_ENCRYPTION_KEY_FILE "
    "to a file holding 32 random bytes in base64, then restart it"
)
WRONG_CODE = "the code is wrong or was used already: enter the current code from the authenticator app"


@dataclass(frozen=True)
class Status:
    enabled: bool
    pending: bool
    confirmed_at: datetime | None
    recovery_codes_left: int

    @staticmethod
    def of(state: TwoFactor) -> Status:
        return Status(
            enabled=state.enabled,
            pending=state.pending,
            confirmed_at=state.confirmed_at,
            recovery_codes_left=len(state.recovery_digests) if state.enabled else 0,
        )


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def _box(uow: IdentityUnitOfWork) -> SecretBox:
    if uow.secret_box is None:
        raise Unavailable(NOT_CONFIGURED)
    return uow.secret_box


def _locked(uow: IdentityUnitOfWork, user_id: int) -> TwoFactorAccount:
    found = uow.two_factor.get(user_id, for_update=True)
    if found is None:
        raise NotFound(f"user {user_id} does not exist")
    return found


def open_secret(uow: IdentityUnitOfWork, state: TwoFactor, user_id: int) -> str:
    """The user's TOTP secret in clear, for checking one code; never stored or returned."""
    if state.sealed_secret is None:
        raise PreconditionFailed("two-factor authentication is not set up for this account: enrol first")
    try:
        return _box(uow).open(state.sealed_secret, user_id)
    except SealedSecretError:
        # The key was changed, or the row was tampered with: nothing the user can fix.
        raise Unavailable(
            "the stored two-factor secret does not decrypt with the configured data encryption key; "
            "contact support (an admin must reset two-factor authentication for this account)"
        ) from None


def _after_code(uow: IdentityUnitOfWork, state: TwoFactor, user_id: int, code: str) -> TwoFactor:
    check_code_given(code)
    after = state.after_totp(open_secret(uow, state, user_id), code, utcnow())
    if after is None:
        raise InvalidInput(WRONG_CODE, details={"fields": [{"name": "code", "messages": ["is wrong or used"]}]})
    return after


def status(user_id: int, uow: IdentityUnitOfWork) -> Status:
    with uow:
        found = uow.two_factor.get(user_id)
    if found is None:
        raise NotFound(f"user {user_id} does not exist")
    return Status.of(found.state)


def enrol(user_id: int, uow: IdentityUnitOfWork) -> Enrolment:
    """A new secret for the user's authenticator app; it takes effect once confirmed."""
    box = _box(uow)
    secret = new_totp_secret()
    with uow:
        account = _locked(uow, user_id)
        if account.state.enabled:
            raise PreconditionFailed(
                "two-factor authentication is on already: disable it first to enrol a new authenticator"
            )
        pending = TwoFactor(sealed_secret=box.seal(secret, user_id))
        uow.two_factor.save_state(user_id, pending, utcnow())
        uow.commit()
    return Enrolment(secret=secret, otpauth_uri=provisioning_uri(secret, account.email))


def _counted_code(
    uow: IdentityUnitOfWork, account: TwoFactorAccount, user_id: int, code: str, ip: str, now: datetime
) -> TwoFactor:
    """The state after a right ``code``; a wrong one counts towards the (account, address) pair's
    failures (:mod:`credential_failures`), committed before the refusal."""
    pair = guarded(uow, account.email, throttle_key(ip), now)
    try:
        return _after_code(uow, account.state, user_id, code)
    except InvalidInput as wrong:
        refuse_counted(uow, pair, now, wrong)


def confirm(
    user_id: int, code: str, uow: IdentityUnitOfWork, *, ip: str = "", keep_session_id: int = 0
) -> tuple[Status, list[str]]:
    """Turn two-factor authentication on with a first code; the recovery codes, shown this once.
    Every session of the user but ``keep_session_id`` ends: they were opened without the second
    factor (a thief's session among them, perhaps)."""
    _box(uow)
    codes = new_recovery_codes()
    with uow:
        account = _locked(uow, user_id)
        state = account.state
        if state.enabled:
            raise PreconditionFailed("two-factor authentication is on already")
        if not state.pending:
            raise PreconditionFailed("nothing to confirm: enrol first (POST /v1/me/two_factor)")
        now = utcnow()
        after = replace(_counted_code(uow, account, user_id, code, ip, now), confirmed_at=now).with_recovery_codes(
            codes, user_id
        )
        account.enable(after, recovery_codes=len(codes))
        uow.two_factor.save(account, now)
        for session in uow.accounts.live_sessions(user_id, now, for_update=True):
            if session.id != keep_session_id:
                session.revoke(now, RevokeReason.TWO_FACTOR_ENABLED, revoked_by_user_id=user_id)
                uow.accounts.save_revoked(session)
        uow.commit()
    return Status.of(after), codes


def disable(
    user_id: int, password: str, code: str, recovery_code: str, uow: IdentityUnitOfWork, *, ip: str = ""
) -> Status:
    """Turn it off: the password and a second factor (a code or a recovery code) prove it is the user."""
    _box(uow)
    if bool(code) == bool(recovery_code):
        raise InvalidInput(
            "send exactly one of code (from the authenticator app) and recovery_code",
            details={"fields": [{"name": "code", "messages": ["send code or recovery_code"]}]},
        )
    with uow:
        account = _locked(uow, user_id)
        state = account.state
        user = uow.users.get(user_id)
        if user is None:  # unreachable: the row is locked
            raise NotFound(f"user {user_id} does not exist")
        if not state.enabled:
            raise PreconditionFailed("two-factor authentication is off already")
        now = utcnow()
        pair = guarded(uow, account.email, throttle_key(ip), now)
        # Both are checked whatever the first answer, and the refusal does not say which was
        # wrong: the endpoint does not tell a password guesser that the password was right.
        password_ok = uow.passwords.verify(user.password_hash, password).ok
        if code:
            proved = state.after_totp(open_secret(uow, state, user_id), code, utcnow()) is not None
        else:
            proved = state.after_recovery_code(recovery_code, user_id) is not None
        if not (password_ok and proved):
            refuse_counted(
                uow,
                pair,
                now,
                InvalidInput(
                    "the password or the second factor is wrong: check both and try again",
                    details={"fields": [{"name": "password", "messages": ["or the code is wrong"]}]},
                ),
            )
        account.disable(proved_with="totp" if code else "recovery_code")
        uow.two_factor.save(account, utcnow())
        uow.commit()
    return Status.of(DISABLED)


def regenerate_recovery_codes(
    user_id: int, code: str, uow: IdentityUnitOfWork, *, ip: str = ""
) -> tuple[Status, list[str]]:
    """A new set of recovery codes, given a current code; every earlier one stops working."""
    _box(uow)
    codes = new_recovery_codes()
    with uow:
        account = _locked(uow, user_id)
        if not account.state.enabled:
            raise PreconditionFailed("two-factor authentication is off: turn it on first (enrol, then confirm)")
        after = _counted_code(uow, account, user_id, code, ip, utcnow()).with_recovery_codes(codes, user_id)
        account.replace_recovery_codes(after, recovery_codes=len(codes))
        uow.two_factor.save(account, utcnow())
        uow.commit()
    return Status.of(after), codes


# -- sign-in ----------------------------------------------------------------------------------


def second_factor_failure(cmd: commands.Login, user_id: int, uow: IdentityUnitOfWork) -> LoginFailure | None:
    """Inside logins.login's unit of work, the password being right and the user row locked:
    None when the user has no two-factor authentication or sent a right code (its time step,
    or the recovery code, is then used up in this transaction); otherwise why the sign-in fails.

    A recovery code is checked without the data encryption key, so an account can still be
    signed in to with one when the key is missing.
    """
    found = uow.two_factor.get(user_id, for_update=True)
    if found is None or not found.state.enabled:
        return None
    state = found.state
    if not cmd.totp_code.strip() and not cmd.recovery_code.strip():
        return LoginFailure.TWO_FACTOR_REQUIRED
    if cmd.recovery_code.strip():
        after = state.after_recovery_code(cmd.recovery_code, user_id)
    else:
        after = state.after_totp(open_secret(uow, state, user_id), cmd.totp_code, utcnow())
    if after is None:
        return LoginFailure.WRONG_TWO_FACTOR_CODE
    uow.two_factor.save_state(user_id, after, utcnow())
    return None
