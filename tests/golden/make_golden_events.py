"""Write the golden events: one serialized EventEnvelope per registered event type and version.

Run it after adding an event type or raising its schema version (add an example payload to
EXAMPLES first), then commit what it wrote:

    .venv/bin/python tests/golden/make_golden_events.py

For each event type in the catalog it writes, under tests/golden/events/,
``<type>.v<N>.bin`` (the envelope exactly as a producer serializes it) and ``<type>.v<N>.json``
(the same envelope as ``json_format.MessageToDict``: what today's code must read from it).
It never rewrites a golden that exists: goldens stand for events that are in the streams
forever, and tests/unit/test_golden_events.py checks that today's code still reads them all.
The tests never run this script.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cloudplatform.billing.v1 import events_pb2 as billing_events
from cloudplatform.compute.v1 import events_pb2 as compute_events
from cloudplatform.events.v1.envelope_pb2 import Actor, EventEnvelope
from cloudplatform.gateway.v1 import events_pb2 as gateway_events
from cloudplatform.identity.v1 import events_pb2 as identity_events
from cloudplatform.monitoring.v1 import events_pb2 as monitoring_events
from cloudplatform.network.v1 import events_pb2 as network_events
from cloudplatform.ops.v1 import canary_pb2
from cloudplatform.storage.v1 import events_pb2 as storage_events
from cloudplatform.support.v1 import events_pb2 as support_events
from cloudplatform.usage.v1 import events_pb2 as usage_events
from cpshared.events.catalog import REGISTRY
from cpshared.events.registry import EventSpec

GOLDEN = Path(__file__).resolve().parent / "events"

EVENT_ID = "01941f29-7c00-7000-8000-000000000001"
OCCURRED_AT = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def _timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _invoice_ref() -> billing_events.InvoiceRef:
    return billing_events.InvoiceRef(
        invoice_id=31,
        invoice_number="INV-2024-12-0007",
        account_type="organization",
        account_id=7,
        user_id=42,
        organization_id=7,
        currency="EUR",
        total="2.78",
    )


def _payment_method(is_default: bool) -> billing_events.PaymentMethodChanged:
    return billing_events.PaymentMethodChanged(
        payment_method_id=5,
        user_id=42,
        organization_id=7,
        type="credit_card",
        last_four="4242",
        card_brand="visa",
        is_default=is_default,
    )


def _pricing_plan() -> billing_events.PricingPlanChanged:
    return billing_events.PricingPlanChanged(
        pricing_plan_id=3,
        code="lb11",
        name="Load balancer LB11",
        resource_type="load_balancer",
        price_hourly="0.008600",
        price_monthly="5.39",
        currency="EUR",
        active=True,
    )


def _window_changed(status: str, fields: list[str], staff_user_id: int) -> Message:
    return support_events.MaintenanceWindowChanged(
        maintenance_window_id=21,
        title="Storage network upgrade",
        type="planned",
        status=status,
        start_time=_timestamp(datetime(2025, 1, 10, 2, 0, 0, tzinfo=UTC)),
        end_time=_timestamp(datetime(2025, 1, 10, 4, 0, 0, tzinfo=UTC)),
        affected_services=["volumes", "backups"],
        affected_datacenters=["fsn1-dc14"],
        fields=fields,
        staff_user_id=staff_user_id,
    )


EXAMPLES: dict[tuple[str, int], Callable[[], Message]] = {
    ("invoice.issued", 1): lambda: billing_events.InvoiceIssued(
        invoice_id=31,
        invoice_number="INV-2024-12-0007",
        account_type="organization",
        account_id=7,
        user_id=42,
        organization_id=7,
        period_start=_timestamp(datetime(2024, 12, 1, tzinfo=UTC)),
        period_end=_timestamp(datetime(2025, 1, 1, tzinfo=UTC)),
        currency="EUR",
        subtotal="3.18",
        tax_rate="19.00",
        tax_amount="0.60",
        credits_applied="1.00",
        total="2.78",
        due_date=_timestamp(datetime(2025, 1, 15, tzinfo=UTC)),
        line_count=1,
        usage_record_count=744,
    ),
    ("invoice.paid", 1): lambda: billing_events.InvoicePaid(
        invoice=_invoice_ref(),
        amount="2.78",
        method="credit_card",
        reference="pi_3QxGolden",
        paid_at=_timestamp(datetime(2025, 1, 10, 9, 30, tzinfo=UTC)),
        previous_status="pending",
    ),
    ("invoice.payment_received", 1): lambda: billing_events.InvoicePaymentReceived(
        invoice=_invoice_ref(),
        amount="1.00",
        method="bank_transfer",
        reference="tr-2025-01-0007",
        paid_at=_timestamp(datetime(2025, 1, 8, 14, 0, tzinfo=UTC)),
        amount_paid="1.00",
        remaining="1.78",
    ),
    ("invoice.overdue", 1): lambda: billing_events.InvoiceOverdue(
        invoice=_invoice_ref(),
        due_date=_timestamp(datetime(2025, 1, 15, tzinfo=UTC)),
        marked_at=_timestamp(datetime(2025, 1, 16, 0, 5, tzinfo=UTC)),
    ),
    ("invoice.cancelled", 1): lambda: billing_events.InvoiceCancelled(
        invoice=_invoice_ref(), reason="billed twice", credits_restored="1.00", previous_status="overdue"
    ),
    ("invoice.refunded", 1): lambda: billing_events.InvoiceRefunded(
        invoice=_invoice_ref(),
        credit_note_number="CN-2025-01-0001",
        amount="2.78",
        credits_restored="1.00",
        refunded_to="account_credit",
        credit_id=12,
        reason="outage compensation",
    ),
    ("credit.granted", 1): lambda: billing_events.CreditGranted(
        credit_id=12,
        user_id=42,
        organization_id=7,
        type="compensation",
        amount="2.78",
        currency="EUR",
        expires_at=_timestamp(datetime(2026, 1, 1, tzinfo=UTC)),
        description="Credit note CN-2025-01-0001 for invoice INV-2024-12-0007",
    ),
    ("payment_method.added", 1): lambda: _payment_method(is_default=True),
    ("payment_method.updated", 1): lambda: _payment_method(is_default=True),
    ("payment_method.default_set", 1): lambda: _payment_method(is_default=True),
    ("payment_method.removed", 1): lambda: _payment_method(is_default=False),
    ("pricing_plan.created", 1): lambda: _pricing_plan(),
    ("pricing_plan.updated", 1): lambda: _pricing_plan(),
    ("billing.suspension_requested", 1): lambda: billing_events.SuspensionRequested(
        invoice=_invoice_ref(),
        account_type="organization",
        account_id=7,
        due_date=_timestamp(datetime(2025, 1, 15, tzinfo=UTC)),
        grace_days=14,
        requested_at=_timestamp(datetime(2025, 1, 30, 0, 5, tzinfo=UTC)),
    ),
    ("billing.suspension_lifted", 1): lambda: billing_events.SuspensionLifted(
        account_type="organization",
        account_id=7,
        cleared_by=_invoice_ref(),
        requested_invoice_ids=[9001],
        lifted_at=_timestamp(datetime(2025, 2, 3, 10, 30, tzinfo=UTC)),
    ),
    ("organization.suspended", 1): lambda: identity_events.OrganizationStatusChanged(
        organization_id=7,
        old_status="active",
        new_status="suspended",
        reason="billing: invoice INV-2025-01-0001 overdue past the 14-day grace period",
        changed_by_user_id=0,
        requested_by="billing",
    ),
    ("organization.activated", 1): lambda: identity_events.OrganizationStatusChanged(
        organization_id=7,
        old_status="suspended",
        new_status="active",
        reason="billing: no overdue invoice left",
        changed_by_user_id=0,
        requested_by="billing",
    ),
    ("ops.canary_emitted", 1): lambda: canary_pb2.CanaryEmitted(
        note="golden canary", sequence=3, run_size=10, run_id="01941f29-7c00-7000-8000-0000000000aa"
    ),
    ("user.created", 1): lambda: identity_events.UserCreated(user_id=4711, role="client", status="pending"),
    ("api_key.created", 1): lambda: identity_events.ApiKeyCreated(
        api_key_id=4711,
        user_id=42,
        organization_id=7,
        name="golden key",
        last_four="Ab3z",
        scopes=["servers:read", "servers:write"],
        rate_limit=1000,
        expires_at=_timestamp(datetime(2026, 1, 1, tzinfo=UTC)),
    ),
    ("api_key.revoked", 1): lambda: identity_events.ApiKeyRevoked(
        api_key_id=4711, user_id=42, organization_id=7, revoked_at=_timestamp(OCCURRED_AT)
    ),
    ("organization.trial_ended", 1): lambda: identity_events.OrganizationTrialEnded(
        organization_id=7, trial_ends_at=_timestamp(OCCURRED_AT), new_status="active"
    ),
    ("api_key.updated", 1): lambda: identity_events.ApiKeyUpdated(
        api_key_id=4711,
        user_id=42,
        organization_id=7,
        name="renamed golden key",
        scopes=["servers:read"],
        rate_limit=500,
    ),
    ("api_key.rotated", 1): lambda: identity_events.ApiKeyRotated(
        api_key_id=4711,
        user_id=42,
        organization_id=7,
        successor_api_key_id=4712,
        retires_at=_timestamp(datetime(2026, 1, 1, 1, tzinfo=UTC)),
    ),
    ("quota.reserved", 1): lambda: identity_events.QuotaReserved(
        quota_id=4711,
        user_id=42,
        organization_id=0,
        resource_type="server",
        reservation_key="golden-reservation-1",
        amount=2,
        current_usage=5,
        quota_limit=10,
    ),
    ("quota.released", 1): lambda: identity_events.QuotaReleased(
        quota_id=4711,
        user_id=0,
        organization_id=7,
        resource_type="server",
        reservation_key="golden-reservation-1",
        amount=2,
        current_usage=3,
        quota_limit=10,
    ),
    ("setting.changed", 1): lambda: identity_events.SettingChanged(
        key="signup_enabled", type="boolean", old_value="true", new_value="false"
    ),
    ("user.login_succeeded", 1): lambda: identity_events.UserLoginSucceeded(
        user_id=42, login_activity_id=4711, ip="203.0.113.10"
    ),
    ("user.login_failed", 1): lambda: identity_events.UserLoginFailed(
        user_id=42, login_activity_id=4712, ip="2001:db8::1", reason="wrong_password", failed_logins=3
    ),
    ("user.locked", 1): lambda: identity_events.UserLocked(
        user_id=42,
        ip="203.0.113.10",
        reason="too_many_failed_logins",
        failed_logins=5,
        locked_until=_timestamp(datetime(2025, 1, 1, 12, 15, tzinfo=UTC)),
    ),
    ("organization.created", 1): lambda: identity_events.OrganizationCreated(
        organization_id=7, owner_user_id=42, status="active"
    ),
    ("organization.member_added", 1): lambda: identity_events.OrganizationMemberAdded(
        organization_id=7, user_id=43, role="admin", invited_by_user_id=42, permissions=["servers:read"]
    ),
    ("organization.member_role_changed", 1): lambda: identity_events.OrganizationMemberRoleChanged(
        organization_id=7, user_id=43, old_role="admin", new_role="billing", changed_by_user_id=42
    ),
    ("organization.member_removed", 1): lambda: identity_events.OrganizationMemberRemoved(
        organization_id=7, user_id=43, role="billing", removed_by_user_id=42
    ),
    ("organization.ownership_transferred", 1): lambda: identity_events.OrganizationOwnershipTransferred(
        organization_id=7, old_owner_user_id=42, new_owner_user_id=43, new_owner_previous_role="member"
    ),
    ("organization.member_invited", 1): lambda: identity_events.OrganizationMemberInvited(
        organization_id=7,
        invitation_id=4711,
        role="member",
        permissions=["servers:read"],
        invited_by_user_id=42,
        expires_at=_timestamp(datetime(2025, 1, 8, 12, 0, tzinfo=UTC)),
    ),
    ("organization.invitation_revoked", 1): lambda: identity_events.OrganizationInvitationRevoked(
        organization_id=7, invitation_id=4711, revoked_by_user_id=42, reason="replaced"
    ),
    ("organization.invitation_accepted", 1): lambda: identity_events.OrganizationInvitationAccepted(
        organization_id=7, invitation_id=4711, user_id=43, role="billing"
    ),
    ("organization.updated", 1): lambda: identity_events.OrganizationUpdated(
        organization_id=7, changed_fields=["name", "billing_email"], updated_by_user_id=42
    ),
    ("organization.member_permissions_changed", 1): lambda: identity_events.OrganizationMemberPermissionsChanged(
        organization_id=7,
        user_id=43,
        old_permissions=["servers:read"],
        new_permissions=["servers:write", "volumes:read"],
        changed_by_user_id=42,
    ),
    ("user.email_verified", 1): lambda: identity_events.UserEmailVerified(
        user_id=42, verification_id=4711, status="active"
    ),
    ("user.session_created", 1): lambda: identity_events.UserSessionCreated(
        session_id=4711,
        user_id=42,
        ip="203.0.113.10",
        expires_at=_timestamp(datetime(2025, 1, 31, 12, 0, tzinfo=UTC)),
    ),
    ("user.session_refreshed", 1): lambda: identity_events.UserSessionRefreshed(
        session_id=4711, user_id=42, ip="2001:db8::1"
    ),
    ("user.session_revoked", 1): lambda: identity_events.UserSessionRevoked(
        session_id=4711, user_id=42, reason="logout", revoked_by_user_id=42
    ),
    ("user.profile_updated", 1): lambda: identity_events.UserProfileUpdated(
        user_id=42, changed_fields=["city", "timezone"]
    ),
    ("user.password_changed", 1): lambda: identity_events.UserPasswordChanged(user_id=42, revoked_sessions=2),
    ("user.password_reset", 1): lambda: identity_events.UserPasswordReset(
        user_id=42, revoked_sessions=2, unlocked=True
    ),
    ("user.activated", 1): lambda: identity_events.UserStatusChanged(
        user_id=43, old_status="pending", new_status="active", reason="verified by phone", changed_by_user_id=42
    ),
    ("user.suspended", 1): lambda: identity_events.UserStatusChanged(
        user_id=43, old_status="active", new_status="suspended", reason="unpaid invoices", changed_by_user_id=42
    ),
    ("user.banned", 1): lambda: identity_events.UserStatusChanged(
        user_id=43, old_status="suspended", new_status="banned", reason="abuse", changed_by_user_id=42
    ),
    ("user.erased", 1): lambda: identity_events.UserErased(user_id=43, erased_by_user_id=42),
    ("quota.limit_changed", 1): lambda: identity_events.QuotaLimitChanged(
        quota_id=4711,
        user_id=0,
        organization_id=7,
        resource_type="server",
        old_limit=10,
        new_limit=25,
        current_usage=3,
        changed_by_user_id=42,
    ),
    ("user.two_factor_enabled", 1): lambda: identity_events.UserTwoFactorEnabled(
        user_id=42, confirmed_at=_timestamp(datetime(2025, 1, 1, 12, 0, tzinfo=UTC)), recovery_codes=10
    ),
    ("user.two_factor_disabled", 1): lambda: identity_events.UserTwoFactorDisabled(
        user_id=42, proved_with="recovery_code"
    ),
    ("user.recovery_codes_regenerated", 1): lambda: identity_events.UserRecoveryCodesRegenerated(
        user_id=42, recovery_codes=10
    ),
    ("request.completed", 1): lambda: gateway_events.RequestCompleted(
        request_id="01941f29-7c00-7000-8000-0000000000bb",
        method="DELETE",
        route="/v1/api_keys/{api_key_id}",
        path="/v1/api_keys/4711",
        status=204,
        duration_ms=12,
        user_id=42,
        organization_id=7,
        api_key_id=4711,
        ip="203.0.113.10",
        user_agent="hcloud-cli/1.50.0",
        idempotent_replay=True,
        rate_limited=True,
    ),
    ("catalog.server_type_synced", 1): lambda: compute_events.ServerTypeSynced(
        server_type_id=4711,
        code="cx22",
        created=True,
        cpu_cores=2,
        memory_gb="4.00",
        disk_gb=40,
        price_hourly="0.006700",
        price_monthly="4.51",
        upstream_datacenters=["fsn1", "nbg1", "hel1"],
        supported_datacenters=["fsn1", "nbg1"],
        available=True,
    ),
    ("catalog.price_changed", 1): lambda: compute_events.PriceChanged(
        server_type_id=4711,
        code="cx22",
        old_price_hourly="0.006700",
        old_price_monthly="4.51",
        price_hourly="0.008000",
        price_monthly="4.99",
    ),
    ("catalog.availability_changed", 1): lambda: compute_events.AvailabilityChanged(
        server_type_id=4711, code="cx22", available=True, supported_datacenters=["fsn1"]
    ),
    ("ssh_key.created", 1): lambda: compute_events.SshKeyCreated(
        ssh_key_id=4711,
        user_id=42,
        organization_id=7,
        name="golden key",
        fingerprint="b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f",
        type="ssh-ed25519",
        labels={"env": "prod"},
    ),
    ("ssh_key.updated", 1): lambda: compute_events.SshKeyUpdated(
        ssh_key_id=4711, user_id=42, organization_id=7, name="renamed key", labels={"env": "dev"}
    ),
    ("ssh_key.deleted", 1): lambda: compute_events.SshKeyDeleted(
        ssh_key_id=4711, user_id=42, organization_id=7, fingerprint="b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f"
    ),
    ("server.created", 1): lambda: compute_events.ServerCreated(
        server_id=4711,
        user_id=42,
        organization_id=7,
        name="web-1",
        server_type="cx22",
        datacenter="fsn1",
        image="ubuntu-24.04",
        status="provisioning",
        labels={"env": "prod"},
        backup_enabled=True,
        action_id=9001,
    ),
    ("server.status_changed", 1): lambda: compute_events.ServerStatusChanged(
        server_id=4711,
        user_id=42,
        organization_id=7,
        old_status="provisioning",
        status="error",
        action_id=9001,
        error_code="resource_unavailable",
    ),
    ("server.deleted", 1): lambda: compute_events.ServerDeleted(
        server_id=4711, user_id=42, organization_id=7, name="web-1", action_id=9002
    ),
    ("server.suspended", 1): lambda: compute_events.ServerSuspended(
        server_id=4711, user_id=42, organization_id=0, reason="suspended", action_id=9003
    ),
    ("server.unsuspended", 1): lambda: compute_events.ServerUnsuspended(server_id=4711, user_id=42, organization_id=0),
    ("server.updated", 1): lambda: compute_events.ServerUpdated(
        server_id=4711, user_id=42, organization_id=7, fields=["name", "labels"], name="web-2", labels={"env": "prod"}
    ),
    ("server.type_changed", 1): lambda: compute_events.ServerTypeChanged(
        server_id=4711,
        user_id=42,
        organization_id=7,
        old_server_type="cx22",
        server_type="cx32",
        disk_gb=40,
        action_id=9003,
    ),
    ("server.rebuilt", 1): lambda: compute_events.ServerRebuilt(
        server_id=4711, user_id=42, organization_id=7, image_id=12, action_id=9004
    ),
    ("server.rescue_changed", 1): lambda: compute_events.ServerRescueChanged(
        server_id=4711, user_id=42, organization_id=7, rescue_enabled=True, action_id=9005
    ),
    ("server.iso_changed", 1): lambda: compute_events.ServerIsoChanged(
        server_id=4711, user_id=42, organization_id=7, iso="virtio-win-0.1.248.iso", action_id=9007
    ),
    ("server.protection_changed", 1): lambda: compute_events.ServerProtectionChanged(
        server_id=4711, user_id=42, organization_id=7, delete=True, rebuild=True, action_id=9008
    ),
    ("server.dns_ptr_changed", 1): lambda: compute_events.ServerDnsPtrChanged(
        server_id=4711, user_id=42, organization_id=7, ip="203.0.113.10", dns_ptr="web.example.com", action_id=9009
    ),
    ("server.backup_changed", 1): lambda: compute_events.ServerBackupChanged(
        server_id=4711,
        user_id=42,
        organization_id=7,
        backup_enabled=True,
        server_type_id=3,
        server_type="cx22",
        datacenter="fsn1",
        server_price_hourly="0.0071",
        server_price_monthly="4.3500",
        backup_price_percent="20",
        action_id=9010,
    ),
    ("server.password_reset", 1): lambda: compute_events.ServerPasswordReset(
        server_id=4711, user_id=42, organization_id=7, action_id=9011
    ),
    ("server.console_requested", 1): lambda: compute_events.ServerConsoleRequested(
        server_id=4711, user_id=42, organization_id=7, action_id=9012
    ),
    ("image.created", 1): lambda: compute_events.ImageCreated(
        image_id=31, user_id=42, organization_id=7, type="snapshot", server_id=4711, status="creating", action_id=9006
    ),
    ("image.updated", 1): lambda: compute_events.ImageUpdated(
        image_id=31, user_id=42, organization_id=7, fields=["description", "labels"]
    ),
    ("image.deleted", 1): lambda: compute_events.ImageDeleted(image_id=31, user_id=42, organization_id=7),
    ("placement_group.created", 1): lambda: compute_events.PlacementGroupCreated(
        placement_group_id=12, user_id=42, organization_id=7, name="web-spread", type="spread", labels={"env": "prod"}
    ),
    ("placement_group.updated", 1): lambda: compute_events.PlacementGroupUpdated(
        placement_group_id=12, user_id=42, organization_id=7, fields=["name"], name="web", labels={"env": "prod"}
    ),
    ("placement_group.deleted", 1): lambda: compute_events.PlacementGroupDeleted(
        placement_group_id=12, user_id=42, organization_id=7
    ),
    ("server.placement_group_changed", 1): lambda: compute_events.ServerPlacementGroupChanged(
        server_id=4711, user_id=42, organization_id=7, placement_group_id=12, old_placement_group_id=0, action_id=99
    ),
    ("image.protection_changed", 1): lambda: compute_events.ImageProtectionChanged(
        image_id=31, user_id=42, organization_id=7, delete=True, action_id=9007
    ),
    ("volume.created", 1): lambda: storage_events.VolumeCreated(
        volume_id=55,
        user_id=42,
        organization_id=7,
        name="data-1",
        size_gb=10,
        location="fsn1",
        server_id=4711,
        format="ext4",
        labels={"env": "prod"},
    ),
    ("volume.provisioned", 1): lambda: storage_events.VolumeProvisioned(
        volume_id=55, user_id=42, organization_id=7, hetzner_id=987654, size_gb=10
    ),
    ("volume.updated", 1): lambda: storage_events.VolumeUpdated(
        volume_id=55, user_id=42, organization_id=7, fields=["name"], name="data", labels={"env": "prod"}
    ),
    ("volume.attached", 1): lambda: storage_events.VolumeAttached(
        volume_id=55, user_id=42, organization_id=7, server_id=4711
    ),
    ("volume.detached", 1): lambda: storage_events.VolumeDetached(
        volume_id=55, user_id=42, organization_id=7, server_id=4711, reason="requested"
    ),
    ("volume.resized", 1): lambda: storage_events.VolumeResized(
        volume_id=55, user_id=42, organization_id=7, old_size_gb=10, size_gb=20
    ),
    ("volume.protection_changed", 1): lambda: storage_events.VolumeProtectionChanged(
        volume_id=55, user_id=42, organization_id=7, delete=True
    ),
    ("volume.deleted", 1): lambda: storage_events.VolumeDeleted(
        volume_id=55, user_id=42, organization_id=7, size_gb=20
    ),
    ("server.restore_started", 1): lambda: compute_events.ServerRestoreStarted(
        server_id=4711, user_id=42, organization_id=7, backup_id=1000000000301, action_id=9001
    ),
    ("backup.created", 1): lambda: storage_events.BackupCreated(
        backup_id=301,
        server_id=4711,
        user_id=42,
        organization_id=7,
        type="automated",
        size_gb="2.50",
        expires_at=_timestamp(datetime(2025, 1, 8, 22, 0, 0, tzinfo=UTC)),
        hetzner_id=123456,
    ),
    ("backup.expired", 1): lambda: storage_events.BackupRemoved(
        backup_id=301, server_id=4711, user_id=42, organization_id=7, reason="rotated"
    ),
    ("backup.deleted", 1): lambda: storage_events.BackupRemoved(
        backup_id=301, server_id=4711, user_id=42, organization_id=7, reason="requested"
    ),
    ("snapshot.created", 1): lambda: storage_events.SnapshotChanged(
        snapshot_id=88, user_id=42, organization_id=7, resource_type="server", resource_id=4711, size_gb="2.50"
    ),
    ("snapshot.deleted", 1): lambda: storage_events.SnapshotChanged(
        snapshot_id=88, user_id=42, organization_id=7, resource_type="server", resource_id=4711, size_gb="2.50"
    ),
    ("volume.action_failed", 1): lambda: storage_events.VolumeActionFailed(
        volume_id=55,
        user_id=42,
        organization_id=7,
        action_id=1000000000003,
        command="resize_volume",
        error_code="invalid_input",
        error_message="size must be larger",
    ),
    ("ticket.opened", 1): lambda: support_events.TicketOpened(
        ticket_id=88,
        user_id=42,
        organization_id=7,
        ticket_number="TKT-2025-000088",
        subject="Server unreachable",
        category="technical",
        priority="high",
        related_resource_type="server",
        related_resource_id=4711,
        message_id=301,
        attachment_count=1,
    ),
    ("ticket.replied", 1): lambda: support_events.TicketReplied(
        ticket_id=88,
        user_id=42,
        organization_id=7,
        message_id=302,
        author_user_id=5,
        from_staff=True,
        attachment_count=0,
    ),
    ("ticket.internal_note_added", 1): lambda: support_events.TicketInternalNoteAdded(
        ticket_id=88, user_id=42, organization_id=7, message_id=303, author_user_id=5
    ),
    ("ticket.status_changed", 1): lambda: support_events.TicketStatusChanged(
        ticket_id=88, user_id=42, organization_id=7, old_status="open", status="pending", reason="staff_reply"
    ),
    ("ticket.assigned", 1): lambda: support_events.TicketAssigned(
        ticket_id=88, user_id=42, organization_id=7, assigned_to=5, old_assigned_to=6
    ),
    ("ticket.rated", 1): lambda: support_events.TicketRated(ticket_id=88, user_id=42, organization_id=7, rating=5),
    ("ticket.sla_breached", 1): lambda: support_events.TicketSlaBreached(
        ticket_id=88,
        user_id=42,
        organization_id=7,
        target="first_response",
        due_at=_timestamp(datetime(2025, 1, 1, 12, 30, 0, tzinfo=UTC)),
        priority="urgent",
    ),
    ("maintenance.scheduled", 1): functools.partial(_window_changed, "scheduled", [], 5),
    ("maintenance.updated", 1): functools.partial(_window_changed, "scheduled", ["end_time"], 5),
    ("maintenance.started", 1): functools.partial(_window_changed, "in_progress", [], 0),
    ("maintenance.completed", 1): functools.partial(_window_changed, "completed", [], 0),
    ("maintenance.cancelled", 1): functools.partial(_window_changed, "cancelled", [], 5),
    ("primary_ip.created", 1): lambda: network_events.PrimaryIpCreated(
        primary_ip_id=31,
        user_id=42,
        organization_id=7,
        name="web-v4",
        type="ipv4",
        ip="203.0.113.31",
        location="fsn1",
        assignee_id=4711,
        auto_delete=True,
        adopted=False,
        labels={"env": "prod"},
        action_id=1000000000011,
    ),
    ("primary_ip.updated", 1): lambda: network_events.PrimaryIpUpdated(
        primary_ip_id=31,
        user_id=42,
        organization_id=7,
        fields=["name", "auto_delete"],
        name="web-v4-new",
        labels={"env": "prod"},
        auto_delete=False,
    ),
    ("primary_ip.assigned", 1): lambda: network_events.PrimaryIpAssigned(
        primary_ip_id=31, user_id=42, organization_id=7, assignee_id=4712, action_id=1000000000012
    ),
    ("primary_ip.unassigned", 1): lambda: network_events.PrimaryIpUnassigned(
        primary_ip_id=31, user_id=42, organization_id=7, assignee_id=4712, action_id=1000000000013
    ),
    ("primary_ip.dns_ptr_changed", 1): lambda: network_events.PrimaryIpDnsPtrChanged(
        primary_ip_id=31,
        user_id=42,
        organization_id=7,
        ip="203.0.113.31",
        dns_ptr="web.example.com",
        action_id=1000000000014,
    ),
    ("primary_ip.protection_changed", 1): lambda: network_events.PrimaryIpProtectionChanged(
        primary_ip_id=31, user_id=42, organization_id=7, delete=True, action_id=1000000000015
    ),
    ("primary_ip.deleted", 1): lambda: network_events.PrimaryIpDeleted(
        primary_ip_id=31, user_id=42, organization_id=7, reason="server_deleted"
    ),
    ("primary_ip.blocked", 1): lambda: network_events.PrimaryIpBlocked(
        primary_ip_id=31, user_id=42, organization_id=7, reason="suspended"
    ),
    ("primary_ip.unblocked", 1): lambda: network_events.PrimaryIpUnblocked(
        primary_ip_id=31, user_id=42, organization_id=7
    ),
    ("floating_ip.created", 1): lambda: network_events.FloatingIpCreated(
        floating_ip_id=21,
        user_id=42,
        organization_id=7,
        name="web-ip",
        type="ipv4",
        ip="203.0.113.21",
        home_location="fsn1",
        server_id=4711,
        labels={"env": "prod"},
        action_id=1000000000001,
    ),
    ("floating_ip.updated", 1): lambda: network_events.FloatingIpUpdated(
        floating_ip_id=21,
        user_id=42,
        organization_id=7,
        fields=["description"],
        name="web-ip",
        description="the web front",
        labels={"env": "prod"},
    ),
    ("floating_ip.assigned", 1): lambda: network_events.FloatingIpAssigned(
        floating_ip_id=21, user_id=42, organization_id=7, server_id=4712, old_server_id=4711, action_id=1000000000002
    ),
    ("floating_ip.unassigned", 1): lambda: network_events.FloatingIpUnassigned(
        floating_ip_id=21, user_id=42, organization_id=7, server_id=4712, action_id=1000000000003
    ),
    ("floating_ip.dns_ptr_changed", 1): lambda: network_events.FloatingIpDnsPtrChanged(
        floating_ip_id=21,
        user_id=42,
        organization_id=7,
        ip="203.0.113.21",
        dns_ptr="www.example.com",
        action_id=1000000000004,
    ),
    ("floating_ip.protection_changed", 1): lambda: network_events.FloatingIpProtectionChanged(
        floating_ip_id=21, user_id=42, organization_id=7, delete=True, action_id=1000000000005
    ),
    ("floating_ip.deleted", 1): lambda: network_events.FloatingIpDeleted(
        floating_ip_id=21, user_id=42, organization_id=7, reason="deleted"
    ),
    ("floating_ip.blocked", 1): lambda: network_events.FloatingIpBlocked(
        floating_ip_id=21, user_id=42, organization_id=0, reason="suspended"
    ),
    ("floating_ip.unblocked", 1): lambda: network_events.FloatingIpUnblocked(
        floating_ip_id=21, user_id=42, organization_id=0
    ),
    ("notification.created", 1): lambda: support_events.NotificationCreated(
        notification_id="5d0c1f7e-3b0a-5b7e-9d2c-0f4f1c2d3e4a",
        user_id=42,
        kind="invoice_issued",
        channels=["in_app", "email"],
        source_event_id="01941f29-7c00-7000-8000-0000000000aa",
    ),
    ("notification.delivered", 1): lambda: support_events.NotificationDeliveryChanged(
        notification_id="5d0c1f7e-3b0a-5b7e-9d2c-0f4f1c2d3e4a",
        delivery_id="8a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
        user_id=42,
        kind="invoice_issued",
        channel="email",
        attempts=1,
        message_id="<8a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d@notifications.cloud.localhost>",
    ),
    ("notification.delivery_failed", 1): lambda: support_events.NotificationDeliveryChanged(
        notification_id="5d0c1f7e-3b0a-5b7e-9d2c-0f4f1c2d3e4a",
        delivery_id="8a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
        user_id=42,
        kind="invoice_issued",
        channel="email",
        attempts=5,
        error="could not send mail through smtp.example:587: Connection refused",
    ),
    ("network.created", 1): lambda: network_events.NetworkCreated(
        network_id=31,
        user_id=42,
        organization_id=7,
        name="backend",
        ip_range="10.0.0.0/16",
        subnets=["10.0.1.0/24"],
        labels={"env": "prod"},
        action_id=1000000000011,
    ),
    ("network.updated", 1): lambda: network_events.NetworkUpdated(
        network_id=31, user_id=42, organization_id=7, fields=["name"], name="backend-2", labels={"env": "prod"}
    ),
    ("network.subnet_added", 1): lambda: network_events.NetworkSubnetAdded(
        network_id=31,
        user_id=42,
        organization_id=7,
        ip_range="10.0.2.0/24",
        type="cloud",
        network_zone="eu-central",
        action_id=1000000000012,
    ),
    ("network.subnet_deleted", 1): lambda: network_events.NetworkSubnetDeleted(
        network_id=31, user_id=42, organization_id=7, ip_range="10.0.2.0/24", action_id=1000000000013
    ),
    ("network.route_added", 1): lambda: network_events.NetworkRouteAdded(
        network_id=31,
        user_id=42,
        organization_id=7,
        destination="10.100.1.0/24",
        gateway="10.0.1.1",
        action_id=1000000000014,
    ),
    ("network.route_deleted", 1): lambda: network_events.NetworkRouteDeleted(
        network_id=31,
        user_id=42,
        organization_id=7,
        destination="10.100.1.0/24",
        gateway="10.0.1.1",
        action_id=1000000000015,
    ),
    ("network.ip_range_changed", 1): lambda: network_events.NetworkIpRangeChanged(
        network_id=31,
        user_id=42,
        organization_id=7,
        ip_range="10.0.0.0/15",
        old_ip_range="10.0.0.0/16",
        action_id=1000000000016,
    ),
    ("network.protection_changed", 1): lambda: network_events.NetworkProtectionChanged(
        network_id=31, user_id=42, organization_id=7, delete=True, action_id=1000000000017
    ),
    ("network.server_attached", 1): lambda: network_events.NetworkServerAttached(
        network_id=31,
        user_id=42,
        organization_id=7,
        server_id=4711,
        ip="10.0.1.2",
        alias_ips=["10.0.1.3"],
        action_id=1000000000018,
    ),
    ("network.server_detached", 1): lambda: network_events.NetworkServerDetached(
        network_id=31, user_id=42, organization_id=7, server_id=4711, action_id=1000000000019
    ),
    ("network.alias_ips_changed", 1): lambda: network_events.NetworkAliasIpsChanged(
        network_id=31, user_id=42, organization_id=7, server_id=4711, alias_ips=["10.0.1.4"], action_id=1000000000020
    ),
    ("network.deleted", 1): lambda: network_events.NetworkDeleted(
        network_id=31, user_id=42, organization_id=7, reason="deleted"
    ),
    ("network.blocked", 1): lambda: network_events.NetworkBlocked(
        network_id=31, user_id=42, organization_id=0, reason="suspended"
    ),
    ("network.unblocked", 1): lambda: network_events.NetworkUnblocked(network_id=31, user_id=42, organization_id=0),
    ("firewall.created", 1): lambda: network_events.FirewallCreated(
        firewall_id=41, user_id=42, organization_id=7, name="web", rules=3, labels={"env": "prod"}
    ),
    ("firewall.updated", 1): lambda: network_events.FirewallUpdated(
        firewall_id=41, user_id=42, organization_id=7, name="web-renamed", labels={"env": "test"}
    ),
    ("firewall.rules_set", 1): lambda: network_events.FirewallRulesSet(
        firewall_id=41, user_id=42, organization_id=7, rules=3, action_id=1000000000031
    ),
    ("firewall.applied", 1): lambda: network_events.FirewallApplied(
        firewall_id=41, user_id=42, organization_id=7, servers=[4711], selectors=["env=prod"], action_id=1000000000032
    ),
    ("firewall.removed", 1): lambda: network_events.FirewallRemoved(
        firewall_id=41, user_id=42, organization_id=7, servers=[4711], selectors=["env=prod"], action_id=1000000000033
    ),
    ("firewall.deleted", 1): lambda: network_events.FirewallDeleted(
        firewall_id=41, user_id=42, organization_id=7, reason="deleted"
    ),
    ("firewall.blocked", 1): lambda: network_events.FirewallBlocked(
        firewall_id=41, user_id=42, organization_id=0, reason="suspended"
    ),
    ("firewall.unblocked", 1): lambda: network_events.FirewallUnblocked(firewall_id=41, user_id=42, organization_id=0),
    ("load_balancer.created", 1): lambda: network_events.LoadBalancerCreated(
        load_balancer_id=51,
        user_id=42,
        organization_id=7,
        name="web-lb",
        load_balancer_type="lb11",
        location="fsn1",
        labels={"env": "prod"},
        action_id=1000000000051,
    ),
    ("load_balancer.provisioned", 1): lambda: network_events.LoadBalancerProvisioned(
        load_balancer_id=51,
        user_id=42,
        organization_id=7,
        ipv4="203.0.113.51",
        ipv6="2001:db8:51::1",
        action_id=1000000000051,
    ),
    ("load_balancer.updated", 1): lambda: network_events.LoadBalancerUpdated(
        load_balancer_id=51, user_id=42, organization_id=7, name="web-lb-renamed", labels={"env": "test"}
    ),
    ("load_balancer.changed", 1): lambda: network_events.LoadBalancerChanged(
        load_balancer_id=51, user_id=42, organization_id=7, command="add_target", action_id=1000000000052
    ),
    ("load_balancer.target_removed", 1): lambda: network_events.LoadBalancerTargetRemoved(
        load_balancer_id=51, user_id=42, organization_id=7, server_id=4711
    ),
    ("load_balancer.deleted", 1): lambda: network_events.LoadBalancerDeleted(
        load_balancer_id=51, user_id=42, organization_id=7, reason="deleted"
    ),
    ("load_balancer.blocked", 1): lambda: network_events.LoadBalancerBlocked(
        load_balancer_id=51, user_id=42, organization_id=0, reason="suspended"
    ),
    ("load_balancer.unblocked", 1): lambda: network_events.LoadBalancerUnblocked(
        load_balancer_id=51, user_id=42, organization_id=0
    ),
    ("certificate.created", 1): lambda: network_events.CertificateCreated(
        certificate_id=61,
        user_id=42,
        organization_id=7,
        name="www",
        type="uploaded",
        domain_names=["www.example.com", "example.com"],
        fingerprint="AB:CD:EF:01",
    ),
    ("certificate.updated", 1): lambda: network_events.CertificateUpdated(
        certificate_id=61, user_id=42, organization_id=7, name="www-2027", labels={"env": "prod"}
    ),
    ("certificate.deleted", 1): lambda: network_events.CertificateDeleted(
        certificate_id=61, user_id=42, organization_id=7, reason="deleted"
    ),
    ("usage.recorded", 1): lambda: usage_events.UsageRecorded(
        resource_type="server",
        resource_id=4711,
        resource_name="web-1",
        user_id=42,
        organization_id=7,
        metric_type="compute_hours",
        quantity="1",
        period_start=_timestamp(datetime(2025, 1, 1, 11, 0, 0, tzinfo=UTC)),
        period_end=_timestamp(datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)),
        product="cx22",
        location="fsn1",
        price_hourly="0.006500",
        price_monthly="4.15",
        currency="EUR",
    ),
    ("metric.sampled", 1): lambda: monitoring_events.MetricSampled(
        server_id=4711,
        recorded_at=_timestamp(datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)),
        cpu_usage="37.5123",
        disk_read_iops="83.1000",
        disk_write_iops="55.4000",
        disk_read_bytes_per_second="1108000.0000",
        disk_write_bytes_per_second="554000.0000",
        network_in_bytes_per_second="277000.0000",
        network_out_bytes_per_second="221600.0000",
        network_packets_in="138.5000",
        network_packets_out="110.8000",
        source="upstream",
    ),
    ("metric.summarized", 1): lambda: monitoring_events.MetricsSummarized(
        server_id=4711,
        summarized_at=_timestamp(datetime(2025, 1, 1, 12, 5, 0, tzinfo=UTC)),
        window_start=_timestamp(datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)),
        cpu_usage="37.51",
        memory_usage="",
        disk_usage="",
        outgoing_traffic_gb="1523.402710",
    ),
    **{
        (event_type, 1): lambda: monitoring_events.AlertRuleChanged(
            alert_rule_id=31,
            user_id=42,
            organization_id=7,
            name="cpu high on web-1",
            resource_type="server",
            resource_id=4711,
            metric="cpu_usage",
            operator="gt",
            threshold="80.00",
            duration_minutes=5,
            enabled=True,
            channel_types=["email", "webhook", "in_app"],
        )
        for event_type in ("alert_rule.created", "alert_rule.updated", "alert_rule.deleted")
    },
    **{
        (event_type, 1): functools.partial(
            monitoring_events.AlertChanged,
            alert_id=5_812_734_225_601_337,
            alert_rule_id=31,
            user_id=42,
            organization_id=7,
            rule_name="cpu high on web-1",
            resource_type="server",
            resource_id=4711,
            metric="cpu_usage",
            operator="gt",
            threshold="80.00",
            duration_minutes=5,
            status=event_type.removeprefix("alert."),
            value="95.00",
            message="cpu_usage > 80.00 for 5 min (now 95.00)",
            triggered_at=_timestamp(datetime(2025, 1, 1, 11, 55, tzinfo=UTC)),
            resolved_at=_timestamp(datetime(2025, 1, 1, 12, 0, tzinfo=UTC)),
            acknowledged_at=_timestamp(datetime(2025, 1, 1, 11, 58, tzinfo=UTC)),
            acknowledged_by=42,
        )
        for event_type in ("alert.triggered", "alert.resolved", "alert.acknowledged")
    },
    **{
        (event_type, 1): functools.partial(
            monitoring_events.UptimeMonitorChanged,
            uptime_monitor_id=17,
            user_id=42,
            organization_id=7,
            name="shop front",
            type="https",
            target="shop.example.com",
            port=443,
            interval_seconds=60,
            timeout_seconds=10,
            regions=["fsn1"],
            enabled=True,
            channel_types=["email", "webhook", "in_app"],
        )
        for event_type in ("uptime_monitor.created", "uptime_monitor.updated", "uptime_monitor.deleted")
    },
    **{
        (event_type, 1): functools.partial(
            monitoring_events.UptimeMonitorStatusChanged,
            uptime_monitor_id=17,
            user_id=42,
            organization_id=7,
            name="shop front",
            type="https",
            target="shop.example.com",
            port=443,
            status=event_type.removeprefix("uptime_monitor."),
            at=_timestamp(datetime(2025, 1, 1, 12, 0, tzinfo=UTC)),
            down_since=_timestamp(datetime(2025, 1, 1, 11, 58, tzinfo=UTC)),
            consecutive_failures=3,
            error="connection refused",
            region="fsn1",
            latency_ms=87,
            channel_types=["email", "webhook", "in_app"],
        )
        for event_type in ("uptime_monitor.down", "uptime_monitor.up")
    },
}
"""(event type, schema version) -> a payload of that version with every field set."""


def golden_envelope(spec: EventSpec, payload: Message) -> EventEnvelope:
    occurred = Timestamp()
    occurred.FromDatetime(OCCURRED_AT)
    packed = AnyMessage()
    packed.Pack(payload)
    return EventEnvelope(
        event_id=EVENT_ID,
        event_type=spec.event_type,
        schema_version=spec.version,
        aggregate_type=spec.aggregate_type,
        aggregate_id="4711",
        aggregate_version=7,
        occurred_at=occurred,
        producer="golden",
        correlation_id="req-golden-0001",
        causation_id="01941f29-7c00-7000-8000-000000000000",
        actor=Actor(
            user_id=42,
            organization_id=7,
            api_key_id=9,
            ip="203.0.113.10",
            user_agent="golden/1.0",
            request_id="req-golden-0001",
            service="",
        ),
        payload=packed,
    )


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    for spec in REGISTRY.specs():
        stem = f"{spec.event_type}.v{spec.version}"
        binary, expected = GOLDEN / f"{stem}.bin", GOLDEN / f"{stem}.json"
        if binary.exists() and expected.exists():
            print(f"kept    {stem} (goldens are never rewritten)")
            continue
        example = EXAMPLES.get((spec.event_type, spec.version))
        if example is None:
            missing.append(stem)
            continue
        payload = example()
        if not isinstance(payload, spec.message):
            raise TypeError(f"the example of {stem} is a {type(payload).__name__}, not {spec.message.__name__}")
        envelope = golden_envelope(spec, payload)
        binary.write_bytes(envelope.SerializeToString(deterministic=True))
        rendered = json_format.MessageToDict(envelope, preserving_proto_field_name=True)
        expected.write_text(json.dumps(rendered, indent=2, sort_keys=True) + "\n")
        print(f"wrote   {stem}")
    if missing:
        print(f"no example payload for {', '.join(missing)}: add one to EXAMPLES", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
