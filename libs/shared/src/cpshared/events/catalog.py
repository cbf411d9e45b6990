"""The platform's event catalog: every event type, in one registry every service imports.

Producers look up the stream and schema version of what they record here; consumers read
any service's events through it. Each domain adds its events (and upcasters) as it grows.
"""

from __future__ import annotations

from google.protobuf.message import Message

from cloudplatform.billing.v1 import events_pb2 as billing_events
from cloudplatform.compute.v1 import events_pb2 as compute_events
from cloudplatform.gateway.v1 import events_pb2 as gateway_events
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_events
from cloudplatform.network.v1 import events_pb2 as network_events
from cloudplatform.ops.v1 import canary_pb2
from cloudplatform.storage.v1 import events_pb2 as storage_events
from cloudplatform.support.v1 import events_pb2 as support_events
from cloudplatform.usage.v1 import events_pb2 as usage_events
from cpshared.events.registry import EventRegistry, EventSpec
from cpshared.topics import MONITORING_METRICS, USAGE_EVENTS, Topic

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
API_KEY_UPDATED = event("api_key.updated", 1, identity_events.ApiKeyUpdated, "api_key", topic=None)
API_KEY_ROTATED = event("api_key.rotated", 1, identity_events.ApiKeyRotated, "api_key", topic=None)
ORGANIZATION_TRIAL_ENDED = event(
    "organization.trial_ended", 1, identity_events.OrganizationTrialEnded, "organization", topic=None
)
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
ORGANIZATION_MEMBER_INVITED = event(
    "organization.member_invited", 1, identity_events.OrganizationMemberInvited, "organization", topic=None
)
ORGANIZATION_INVITATION_REVOKED = event(
    "organization.invitation_revoked", 1, identity_events.OrganizationInvitationRevoked, "organization", topic=None
)
ORGANIZATION_INVITATION_ACCEPTED = event(
    "organization.invitation_accepted", 1, identity_events.OrganizationInvitationAccepted, "organization", topic=None
)
ORGANIZATION_UPDATED = event("organization.updated", 1, identity_events.OrganizationUpdated, "organization", topic=None)
ORGANIZATION_SUSPENDED = event(
    "organization.suspended", 1, identity_events.OrganizationStatusChanged, "organization", topic=None
)
ORGANIZATION_ACTIVATED = event(
    "organization.activated", 1, identity_events.OrganizationStatusChanged, "organization", topic=None
)
ORGANIZATION_MEMBER_PERMISSIONS_CHANGED = event(
    "organization.member_permissions_changed",
    1,
    identity_events.OrganizationMemberPermissionsChanged,
    "organization",
    topic=None,
)
# Accounts: email verification, sign-in sessions (aggregate "user_session", keyed by the
# session id), profile and password. No token, password or personal data in any of them.
USER_EMAIL_VERIFIED = event("user.email_verified", 1, identity_events.UserEmailVerified, "user", topic=None)
USER_SESSION_CREATED = event("user.session_created", 1, identity_events.UserSessionCreated, "user_session", topic=None)
USER_SESSION_REFRESHED = event(
    "user.session_refreshed", 1, identity_events.UserSessionRefreshed, "user_session", topic=None
)
USER_SESSION_REVOKED = event("user.session_revoked", 1, identity_events.UserSessionRevoked, "user_session", topic=None)
USER_PROFILE_UPDATED = event("user.profile_updated", 1, identity_events.UserProfileUpdated, "user", topic=None)
USER_PASSWORD_CHANGED = event("user.password_changed", 1, identity_events.UserPasswordChanged, "user", topic=None)
USER_PASSWORD_RESET = event("user.password_reset", 1, identity_events.UserPasswordReset, "user", topic=None)

# Identity, staff administration: status changes, erasure (ids only) and quota limits.
USER_ACTIVATED = event("user.activated", 1, identity_events.UserStatusChanged, "user", topic=None)
USER_SUSPENDED = event("user.suspended", 1, identity_events.UserStatusChanged, "user", topic=None)
USER_BANNED = event("user.banned", 1, identity_events.UserStatusChanged, "user", topic=None)
USER_ERASED = event("user.erased", 1, identity_events.UserErased, "user", topic=None)
QUOTA_LIMIT_CHANGED = event("quota.limit_changed", 1, identity_events.QuotaLimitChanged, "quota", topic=None)
USER_TWO_FACTOR_ENABLED = event("user.two_factor_enabled", 1, identity_events.UserTwoFactorEnabled, "user", topic=None)
USER_TWO_FACTOR_DISABLED = event(
    "user.two_factor_disabled", 1, identity_events.UserTwoFactorDisabled, "user", topic=None
)
USER_RECOVERY_CODES_REGENERATED = event(
    "user.recovery_codes_regenerated", 1, identity_events.UserRecoveryCodesRegenerated, "user", topic=None
)

# Compute: the catalog (server types synced from upstream, the platform's prices and
# availability) and SSH keys, on compute.events (the producer's stream).
CATALOG_SERVER_TYPE_SYNCED = event(
    "catalog.server_type_synced", 1, compute_events.ServerTypeSynced, "server_type", topic=None
)
CATALOG_PRICE_CHANGED = event("catalog.price_changed", 1, compute_events.PriceChanged, "server_type", topic=None)
CATALOG_AVAILABILITY_CHANGED = event(
    "catalog.availability_changed", 1, compute_events.AvailabilityChanged, "server_type", topic=None
)
SSH_KEY_CREATED = event("ssh_key.created", 1, compute_events.SshKeyCreated, "ssh_key", topic=None)
SSH_KEY_UPDATED = event("ssh_key.updated", 1, compute_events.SshKeyUpdated, "ssh_key", topic=None)
SSH_KEY_DELETED = event("ssh_key.deleted", 1, compute_events.SshKeyDeleted, "ssh_key", topic=None)
# Compute: servers (created, their status changed by the worker's actions, deleted).
SERVER_CREATED = event("server.created", 1, compute_events.ServerCreated, "server", topic=None)
SERVER_STATUS_CHANGED = event("server.status_changed", 1, compute_events.ServerStatusChanged, "server", topic=None)
SERVER_DELETED = event("server.deleted", 1, compute_events.ServerDeleted, "server", topic=None)
SERVER_SUSPENDED = event("server.suspended", 1, compute_events.ServerSuspended, "server", topic=None)
SERVER_UNSUSPENDED = event("server.unsuspended", 1, compute_events.ServerUnsuspended, "server", topic=None)
SERVER_UPDATED = event("server.updated", 1, compute_events.ServerUpdated, "server", topic=None)
SERVER_TYPE_CHANGED = event("server.type_changed", 1, compute_events.ServerTypeChanged, "server", topic=None)
SERVER_REBUILT = event("server.rebuilt", 1, compute_events.ServerRebuilt, "server", topic=None)
SERVER_RESTORE_STARTED = event("server.restore_started", 1, compute_events.ServerRestoreStarted, "server", topic=None)
SERVER_RESCUE_CHANGED = event("server.rescue_changed", 1, compute_events.ServerRescueChanged, "server", topic=None)
SERVER_ISO_CHANGED = event("server.iso_changed", 1, compute_events.ServerIsoChanged, "server", topic=None)
SERVER_PROTECTION_CHANGED = event(
    "server.protection_changed", 1, compute_events.ServerProtectionChanged, "server", topic=None
)
SERVER_DNS_PTR_CHANGED = event("server.dns_ptr_changed", 1, compute_events.ServerDnsPtrChanged, "server", topic=None)
SERVER_BACKUP_CHANGED = event("server.backup_changed", 1, compute_events.ServerBackupChanged, "server", topic=None)
SERVER_PASSWORD_RESET = event("server.password_reset", 1, compute_events.ServerPasswordReset, "server", topic=None)
SERVER_CONSOLE_REQUESTED = event(
    "server.console_requested", 1, compute_events.ServerConsoleRequested, "server", topic=None
)
# Compute: snapshot images of tenants (create_image, updated, deleted).
IMAGE_CREATED = event("image.created", 1, compute_events.ImageCreated, "image", topic=None)
IMAGE_UPDATED = event("image.updated", 1, compute_events.ImageUpdated, "image", topic=None)
IMAGE_DELETED = event("image.deleted", 1, compute_events.ImageDeleted, "image", topic=None)
# Compute: tenants' placement groups, and servers joining or leaving one.
PLACEMENT_GROUP_CREATED = event(
    "placement_group.created", 1, compute_events.PlacementGroupCreated, "placement_group", topic=None
)
PLACEMENT_GROUP_UPDATED = event(
    "placement_group.updated", 1, compute_events.PlacementGroupUpdated, "placement_group", topic=None
)
PLACEMENT_GROUP_DELETED = event(
    "placement_group.deleted", 1, compute_events.PlacementGroupDeleted, "placement_group", topic=None
)
SERVER_PLACEMENT_GROUP_CHANGED = event(
    "server.placement_group_changed", 1, compute_events.ServerPlacementGroupChanged, "server", topic=None
)
IMAGE_PROTECTION_CHANGED = event(
    "image.protection_changed", 1, compute_events.ImageProtectionChanged, "image", topic=None
)

# Network: tenants' floating IPs, on network.events (the producer's stream).
FLOATING_IP_CREATED = event("floating_ip.created", 1, network_events.FloatingIpCreated, "floating_ip", topic=None)
FLOATING_IP_UPDATED = event("floating_ip.updated", 1, network_events.FloatingIpUpdated, "floating_ip", topic=None)
FLOATING_IP_ASSIGNED = event("floating_ip.assigned", 1, network_events.FloatingIpAssigned, "floating_ip", topic=None)
FLOATING_IP_UNASSIGNED = event(
    "floating_ip.unassigned", 1, network_events.FloatingIpUnassigned, "floating_ip", topic=None
)
FLOATING_IP_DNS_PTR_CHANGED = event(
    "floating_ip.dns_ptr_changed", 1, network_events.FloatingIpDnsPtrChanged, "floating_ip", topic=None
)
FLOATING_IP_PROTECTION_CHANGED = event(
    "floating_ip.protection_changed", 1, network_events.FloatingIpProtectionChanged, "floating_ip", topic=None
)
FLOATING_IP_DELETED = event("floating_ip.deleted", 1, network_events.FloatingIpDeleted, "floating_ip", topic=None)
FLOATING_IP_BLOCKED = event("floating_ip.blocked", 1, network_events.FloatingIpBlocked, "floating_ip", topic=None)
FLOATING_IP_UNBLOCKED = event("floating_ip.unblocked", 1, network_events.FloatingIpUnblocked, "floating_ip", topic=None)

# Network: tenants' primary IPs, on network.events.
PRIMARY_IP_CREATED = event("primary_ip.created", 1, network_events.PrimaryIpCreated, "primary_ip", topic=None)
PRIMARY_IP_UPDATED = event("primary_ip.updated", 1, network_events.PrimaryIpUpdated, "primary_ip", topic=None)
PRIMARY_IP_ASSIGNED = event("primary_ip.assigned", 1, network_events.PrimaryIpAssigned, "primary_ip", topic=None)
PRIMARY_IP_UNASSIGNED = event("primary_ip.unassigned", 1, network_events.PrimaryIpUnassigned, "primary_ip", topic=None)
PRIMARY_IP_DNS_PTR_CHANGED = event(
    "primary_ip.dns_ptr_changed", 1, network_events.PrimaryIpDnsPtrChanged, "primary_ip", topic=None
)
PRIMARY_IP_PROTECTION_CHANGED = event(
    "primary_ip.protection_changed", 1, network_events.PrimaryIpProtectionChanged, "primary_ip", topic=None
)
PRIMARY_IP_DELETED = event("primary_ip.deleted", 1, network_events.PrimaryIpDeleted, "primary_ip", topic=None)
PRIMARY_IP_BLOCKED = event("primary_ip.blocked", 1, network_events.PrimaryIpBlocked, "primary_ip", topic=None)
PRIMARY_IP_UNBLOCKED = event("primary_ip.unblocked", 1, network_events.PrimaryIpUnblocked, "primary_ip", topic=None)

# Network: tenants' private networks, on network.events.
NETWORK_CREATED = event("network.created", 1, network_events.NetworkCreated, "network", topic=None)
NETWORK_UPDATED = event("network.updated", 1, network_events.NetworkUpdated, "network", topic=None)
NETWORK_SUBNET_ADDED = event("network.subnet_added", 1, network_events.NetworkSubnetAdded, "network", topic=None)
NETWORK_SUBNET_DELETED = event("network.subnet_deleted", 1, network_events.NetworkSubnetDeleted, "network", topic=None)
NETWORK_ROUTE_ADDED = event("network.route_added", 1, network_events.NetworkRouteAdded, "network", topic=None)
NETWORK_ROUTE_DELETED = event("network.route_deleted", 1, network_events.NetworkRouteDeleted, "network", topic=None)
NETWORK_IP_RANGE_CHANGED = event(
    "network.ip_range_changed", 1, network_events.NetworkIpRangeChanged, "network", topic=None
)
NETWORK_PROTECTION_CHANGED = event(
    "network.protection_changed", 1, network_events.NetworkProtectionChanged, "network", topic=None
)
NETWORK_SERVER_ATTACHED = event(
    "network.server_attached", 1, network_events.NetworkServerAttached, "network", topic=None
)
NETWORK_SERVER_DETACHED = event(
    "network.server_detached", 1, network_events.NetworkServerDetached, "network", topic=None
)
NETWORK_ALIAS_IPS_CHANGED = event(
    "network.alias_ips_changed", 1, network_events.NetworkAliasIpsChanged, "network", topic=None
)
NETWORK_DELETED = event("network.deleted", 1, network_events.NetworkDeleted, "network", topic=None)
NETWORK_BLOCKED = event("network.blocked", 1, network_events.NetworkBlocked, "network", topic=None)
NETWORK_UNBLOCKED = event("network.unblocked", 1, network_events.NetworkUnblocked, "network", topic=None)


# Network: tenants' firewalls, on network.events.
FIREWALL_CREATED = event("firewall.created", 1, network_events.FirewallCreated, "firewall", topic=None)
FIREWALL_UPDATED = event("firewall.updated", 1, network_events.FirewallUpdated, "firewall", topic=None)
FIREWALL_RULES_SET = event("firewall.rules_set", 1, network_events.FirewallRulesSet, "firewall", topic=None)
FIREWALL_APPLIED = event("firewall.applied", 1, network_events.FirewallApplied, "firewall", topic=None)
FIREWALL_REMOVED = event("firewall.removed", 1, network_events.FirewallRemoved, "firewall", topic=None)
FIREWALL_DELETED = event("firewall.deleted", 1, network_events.FirewallDeleted, "firewall", topic=None)
FIREWALL_BLOCKED = event("firewall.blocked", 1, network_events.FirewallBlocked, "firewall", topic=None)
FIREWALL_UNBLOCKED = event("firewall.unblocked", 1, network_events.FirewallUnblocked, "firewall", topic=None)

# Network: tenants' load balancers and certificates, on network.events.
LOAD_BALANCER_CREATED = event(
    "load_balancer.created", 1, network_events.LoadBalancerCreated, "load_balancer", topic=None
)
LOAD_BALANCER_PROVISIONED = event(
    "load_balancer.provisioned", 1, network_events.LoadBalancerProvisioned, "load_balancer", topic=None
)
LOAD_BALANCER_UPDATED = event(
    "load_balancer.updated", 1, network_events.LoadBalancerUpdated, "load_balancer", topic=None
)
LOAD_BALANCER_CHANGED = event(
    "load_balancer.changed", 1, network_events.LoadBalancerChanged, "load_balancer", topic=None
)
LOAD_BALANCER_TARGET_REMOVED = event(
    "load_balancer.target_removed", 1, network_events.LoadBalancerTargetRemoved, "load_balancer", topic=None
)
LOAD_BALANCER_DELETED = event(
    "load_balancer.deleted", 1, network_events.LoadBalancerDeleted, "load_balancer", topic=None
)
LOAD_BALANCER_BLOCKED = event(
    "load_balancer.blocked", 1, network_events.LoadBalancerBlocked, "load_balancer", topic=None
)
LOAD_BALANCER_UNBLOCKED = event(
    "load_balancer.unblocked", 1, network_events.LoadBalancerUnblocked, "load_balancer", topic=None
)
CERTIFICATE_CREATED = event("certificate.created", 1, network_events.CertificateCreated, "certificate", topic=None)
CERTIFICATE_UPDATED = event("certificate.updated", 1, network_events.CertificateUpdated, "certificate", topic=None)
CERTIFICATE_DELETED = event("certificate.deleted", 1, network_events.CertificateDeleted, "certificate", topic=None)

# Usage: metered use of billable resources, from the resource's owner, on usage.events (read by
# billing). Event ids are deterministic (see envelope.usage_event_id): one per resource, metric
# and period, whoever emits it and however often.
USAGE_RECORDED = event("usage.recorded", 1, usage_events.UsageRecorded, "usage", topic=USAGE_EVENTS)

# Monitoring: what upstream measured of a server at one instant, on the time-retained
# monitoring.metrics stream (telemetry: audit does not record it). Event ids are deterministic
# (server, instant): a sample collected or delivered twice counts once.
METRIC_SAMPLED = event("metric.sampled", 1, monitoring_events.MetricSampled, "server", topic=MONITORING_METRICS)
# Monitoring: a server's use summarized every few minutes (its traffic meter), on monitoring.metrics;
# compute keeps its servers' usage columns from it. Ids deterministic (server, instant).
METRICS_SUMMARIZED = event(
    "metric.summarized", 1, monitoring_events.MetricsSummarized, "server", topic=MONITORING_METRICS
)
# Monitoring: tenants' alert rules, on monitoring.events (the producer's stream).
ALERT_RULE_CREATED = event("alert_rule.created", 1, monitoring_events.AlertRuleChanged, "alert_rule", topic=None)
ALERT_RULE_UPDATED = event("alert_rule.updated", 1, monitoring_events.AlertRuleChanged, "alert_rule", topic=None)
ALERT_RULE_DELETED = event("alert_rule.deleted", 1, monitoring_events.AlertRuleChanged, "alert_rule", topic=None)
# Monitoring: alerts, on monitoring.events. Triggered and resolved are published by the alert
# processor (deterministic ids: a replay or a re-sent transition counts once), acknowledged by
# the monitoring service (through its outbox).
ALERT_TRIGGERED = event("alert.triggered", 1, monitoring_events.AlertChanged, "alert", topic=None)
ALERT_RESOLVED = event("alert.resolved", 1, monitoring_events.AlertChanged, "alert", topic=None)
ALERT_ACKNOWLEDGED = event("alert.acknowledged", 1, monitoring_events.AlertChanged, "alert", topic=None)
# Monitoring: tenants' uptime monitors and their status, on monitoring.events. Down and up come
# from the uptime checker (through monitoring's outbox; the support service notifies them).
UPTIME_MONITOR_CREATED = event(
    "uptime_monitor.created", 1, monitoring_events.UptimeMonitorChanged, "uptime_monitor", topic=None
)
UPTIME_MONITOR_UPDATED = event(
    "uptime_monitor.updated", 1, monitoring_events.UptimeMonitorChanged, "uptime_monitor", topic=None
)
UPTIME_MONITOR_DELETED = event(
    "uptime_monitor.deleted", 1, monitoring_events.UptimeMonitorChanged, "uptime_monitor", topic=None
)
UPTIME_MONITOR_DOWN = event(
    "uptime_monitor.down", 1, monitoring_events.UptimeMonitorStatusChanged, "uptime_monitor", topic=None
)
UPTIME_MONITOR_UP = event(
    "uptime_monitor.up", 1, monitoring_events.UptimeMonitorStatusChanged, "uptime_monitor", topic=None
)

# Billing: invoices, on billing.events (the producer's stream); the aggregate id is the invoice id.
INVOICE_ISSUED = event("invoice.issued", 1, billing_events.InvoiceIssued, "invoice", topic=None)
INVOICE_PAID = event("invoice.paid", 1, billing_events.InvoicePaid, "invoice", topic=None)
INVOICE_PAYMENT_RECEIVED = event(
    "invoice.payment_received", 1, billing_events.InvoicePaymentReceived, "invoice", topic=None
)
INVOICE_OVERDUE = event("invoice.overdue", 1, billing_events.InvoiceOverdue, "invoice", topic=None)
INVOICE_CANCELLED = event("invoice.cancelled", 1, billing_events.InvoiceCancelled, "invoice", topic=None)
INVOICE_REFUNDED = event("invoice.refunded", 1, billing_events.InvoiceRefunded, "invoice", topic=None)
CREDIT_GRANTED = event("credit.granted", 1, billing_events.CreditGranted, "credit", topic=None)
PAYMENT_METHOD_ADDED = event(
    "payment_method.added", 1, billing_events.PaymentMethodChanged, "payment_method", topic=None
)
PAYMENT_METHOD_UPDATED = event(
    "payment_method.updated", 1, billing_events.PaymentMethodChanged, "payment_method", topic=None
)
PAYMENT_METHOD_DEFAULT_SET = event(
    "payment_method.default_set", 1, billing_events.PaymentMethodChanged, "payment_method", topic=None
)
PAYMENT_METHOD_REMOVED = event(
    "payment_method.removed", 1, billing_events.PaymentMethodChanged, "payment_method", topic=None
)
PRICING_PLAN_CREATED = event("pricing_plan.created", 1, billing_events.PricingPlanChanged, "pricing_plan", topic=None)
PRICING_PLAN_UPDATED = event("pricing_plan.updated", 1, billing_events.PricingPlanChanged, "pricing_plan", topic=None)
# An overdue invoice past its grace period: billing asks for the account's suspension (aggregate "account").
SUSPENSION_REQUESTED = event(
    "billing.suspension_requested", 1, billing_events.SuspensionRequested, "account", topic=None
)
SUSPENSION_LIFTED = event("billing.suspension_lifted", 1, billing_events.SuspensionLifted, "account", topic=None)

# Support: tickets and maintenance windows, on support.events (the producer's stream).
# No payload carries message text; an internal note is announced by its own type, never its content.
TICKET_OPENED = event("ticket.opened", 1, support_events.TicketOpened, "ticket", topic=None)
TICKET_REPLIED = event("ticket.replied", 1, support_events.TicketReplied, "ticket", topic=None)
TICKET_INTERNAL_NOTE_ADDED = event(
    "ticket.internal_note_added", 1, support_events.TicketInternalNoteAdded, "ticket", topic=None
)
TICKET_STATUS_CHANGED = event("ticket.status_changed", 1, support_events.TicketStatusChanged, "ticket", topic=None)
TICKET_ASSIGNED = event("ticket.assigned", 1, support_events.TicketAssigned, "ticket", topic=None)
TICKET_RATED = event("ticket.rated", 1, support_events.TicketRated, "ticket", topic=None)
TICKET_SLA_BREACHED = event("ticket.sla_breached", 1, support_events.TicketSlaBreached, "ticket", topic=None)
# Maintenance windows (aggregate "maintenance_window"): each event carries the window as it is now.
MAINTENANCE_SCHEDULED = event(
    "maintenance.scheduled", 1, support_events.MaintenanceWindowChanged, "maintenance_window", topic=None
)
MAINTENANCE_UPDATED = event(
    "maintenance.updated", 1, support_events.MaintenanceWindowChanged, "maintenance_window", topic=None
)
MAINTENANCE_STARTED = event(
    "maintenance.started", 1, support_events.MaintenanceWindowChanged, "maintenance_window", topic=None
)
MAINTENANCE_COMPLETED = event(
    "maintenance.completed", 1, support_events.MaintenanceWindowChanged, "maintenance_window", topic=None
)
MAINTENANCE_CANCELLED = event(
    "maintenance.cancelled", 1, support_events.MaintenanceWindowChanged, "maintenance_window", topic=None
)
# Notifications (aggregate "notification"): made by support's reaction, delivered by its mail sender.
NOTIFICATION_CREATED = event("notification.created", 1, support_events.NotificationCreated, "notification", topic=None)
NOTIFICATION_DELIVERED = event(
    "notification.delivered", 1, support_events.NotificationDeliveryChanged, "notification", topic=None
)
NOTIFICATION_DELIVERY_FAILED = event(
    "notification.delivery_failed", 1, support_events.NotificationDeliveryChanged, "notification", topic=None
)

# Gateway: the public API's request log, one event per answer, on gateway.requests (the
# producer's stream); the aggregate id is the request id.
REQUEST_COMPLETED = event("request.completed", 1, gateway_events.RequestCompleted, "request", topic=None)

# Storage: volumes, on storage.events (the producer's stream); the aggregate is the volume.
VOLUME_CREATED = event("volume.created", 1, storage_events.VolumeCreated, "volume", topic=None)
VOLUME_PROVISIONED = event("volume.provisioned", 1, storage_events.VolumeProvisioned, "volume", topic=None)
VOLUME_UPDATED = event("volume.updated", 1, storage_events.VolumeUpdated, "volume", topic=None)
VOLUME_ATTACHED = event("volume.attached", 1, storage_events.VolumeAttached, "volume", topic=None)
VOLUME_DETACHED = event("volume.detached", 1, storage_events.VolumeDetached, "volume", topic=None)
VOLUME_RESIZED = event("volume.resized", 1, storage_events.VolumeResized, "volume", topic=None)
VOLUME_PROTECTION_CHANGED = event(
    "volume.protection_changed", 1, storage_events.VolumeProtectionChanged, "volume", topic=None
)
VOLUME_DELETED = event("volume.deleted", 1, storage_events.VolumeDeleted, "volume", topic=None)
VOLUME_ACTION_FAILED = event("volume.action_failed", 1, storage_events.VolumeActionFailed, "volume", topic=None)
# Storage: servers' automated backups, on storage.events; the aggregate is the backup.
BACKUP_CREATED = event("backup.created", 1, storage_events.BackupCreated, "backup", topic=None)
BACKUP_EXPIRED = event("backup.expired", 1, storage_events.BackupRemoved, "backup", topic=None)
BACKUP_DELETED = event("backup.deleted", 1, storage_events.BackupRemoved, "backup", topic=None)
# Storage: servers' snapshots as storage bills them, on storage.events; the aggregate is the snapshot.
SNAPSHOT_CREATED = event("snapshot.created", 1, storage_events.SnapshotChanged, "snapshot", topic=None)
SNAPSHOT_DELETED = event("snapshot.deleted", 1, storage_events.SnapshotChanged, "snapshot", topic=None)
