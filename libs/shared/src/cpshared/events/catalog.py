"""The platform's event catalog: every event type, in one registry every service imports.

Producers look up the stream and schema version of what they record here; consumers read
any service's events through it. Each domain adds its events (and upcasters) as it grows.
"""

from __future__ import annotations

from google.protobuf.message import Message

from cloudplatform.gateway.v1 import events_pb2 as gateway_events
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.ops.v1 import canary_pb2
from cpshared.events.registry import EventRegistry, EventSpec
from cpshared.topics import Topic

REGISTRY = EventRegistry()


def event(event_type: str, version: int, message: type[Message], aggregate_type: str, topic: Topic | None) -> EventSpec:
    return REGISTRY.register(EventSpec(event_type, version, message, topic, aggregate_type))


# A synthetic event an operator sends through a service's outbox to check the pipeline;
# it travels on the stream of the service that emitted it (topic None).
CANARY_EMITTED = event("ops.canary_emitted", 1, canary_pb2.CanaryEmitted, "canary", topic=None)

# Identity: accounts, logins, organizations, API keys, quotas and settings, on identity.events
# (the producer's stream).
USER_CREATED = event("user.created", 1, identity_events.UserCreated, "user", topic=None)
API_KEY_CREATED = event("api_key.created", 1, identity_events.ApiKeyCreated, "api_key", topic=None)
API_KEY_REVOKED = event("api_key.revoked", 1, identity_events.ApiKeyRevoked, "api_key", topic=None)
QUOTA_RESERVED = event("quota.reserved", 1, identity_events.QuotaReserved, "quota", topic=None)
QUOTA_RELEASED = event("quota.released", 1, identity_events.QuotaReleased, "quota", topic=None)
SETTING_CHANGED = event("setting.changed", 1, identity_events.SettingChanged, "setting", topic=None)
USER_LOGIN_SUCCEEDED = event("user.login_succeeded", 1, identity_events.UserLoginSucceeded, "user", topic=None)
USER_LOGIN_FAILED = event("user.login_failed", 1, identity_events.UserLoginFailed, "user", topic=None)
USER_LOCKED = event("user.locked", 1, identity_events.UserLocked, "user", topic=None)
ORGANIZATION_CREATED = event("organization.created", 1, identity_events.OrganizationCreated, "organization", topic=None)
ORGANIZATION_MEMBER_ADDED = event(
    "organization.member_added", 1, identity_events.OrganizationMemberAdded, "organization", topic=None
)
ORGANIZATION_MEMBER_ROLE_CHANGED = event(
    "organization.member_role_changed", 1, identity_events.OrganizationMemberRoleChanged, "organization", topic=None
)
ORGANIZATION_MEMBER_REMOVED = event(
    "organization.member_removed", 1, identity_events.OrganizationMemberRemoved, "organization", topic=None
)
ORGANIZATION_OWNERSHIP_TRANSFERRED = event(
    "organization.ownership_transferred",
    1,
    identity_events.OrganizationOwnershipTransferred,
    "organization",
    topic=None,
)
USER_TWO_FACTOR_ENABLED = event("user.two_factor_enabled", 1, identity_events.UserTwoFactorEnabled, "user", topic=None)
USER_TWO_FACTOR_DISABLED = event(
    "user.two_factor_disabled", 1, identity_events.UserTwoFactorDisabled, "user", topic=None
)
USER_RECOVERY_CODES_REGENERATED = event(
    "user.recovery_codes_regenerated", 1, identity_events.UserRecoveryCodesRegenerated, "user", topic=None
)

# Gateway: the public API's request log, one event per answer, on gateway.requests (the
# producer's stream); the aggregate id is the request id.
REQUEST_COMPLETED = event("request.completed", 1, gateway_events.RequestCompleted, "request", topic=None)
