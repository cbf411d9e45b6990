"""Identity's retention of the sign-in history, run by the shared keeper (``cpshared.retention``)
in a thread of the identity gRPC server at start and every CP_RETENTION_INTERVAL_SECONDS, and by
``python -m identity_service.entrypoints.cli retention`` (``cloudctl retention run``): sign-in
attempts (login_activity) older than CP_LOGIN_ACTIVITY_RETENTION_DAYS (90) are deleted, and the
sign-in failure counts (sign_in_failures) whose last wait ended a day ago.

Another keeper, every CP_TRIAL_CHECK_INTERVAL_SECONDS, ends the organizations' trials that are
due (``organizations``: the count is of trials ended, not of rows removed)."""

from __future__ import annotations

from cpshared.clock import utcnow
from cpshared.retention import Retention
from identity_service import SERVICE_NAME
from identity_service.bootstrap import Identity
from identity_service.config import RetentionSettings
from identity_service.service_layer.organizations import end_due_trials
from identity_service.service_layer.retention import prune_login_activity, prune_sign_in_failures


def login_activity_retention(identity: Identity, settings: RetentionSettings) -> Retention:
    return Retention(
        SERVICE_NAME,
        "login_activity",
        lambda: prune_login_activity(utcnow(), settings.login_activity_retention_days, identity.uow),
    )


def trial_ends(identity: Identity) -> Retention:
    return Retention(SERVICE_NAME, "organizations", lambda: end_due_trials(utcnow(), identity.uow))


def sign_in_failures_retention(identity: Identity) -> Retention:
    """The (account, address) failure counts whose last wait ended a day ago (migration 0008)."""
    return Retention(SERVICE_NAME, "sign_in_failures", lambda: prune_sign_in_failures(utcnow(), identity.uow))
