"""Organization trials: a new organization starts on a trial of ``organization_trial_days``
(0, the default: no trial, it starts active), with ``trial_<resource type>_limit`` capping its
quotas while the trial lasts; identity ends due trials (``organization.trial_ended``).

- settings ``organization_trial_days`` (0), ``trial_server_limit`` (2), ``trial_volume_gb_limit``
  (100), ``trial_floating_ip_limit`` (1);
- index ``idx_status_trial_ends`` on ``organizations (status, trial_ends_at)`` for the keeper.

Revision ID: identity_0010
Revises: identity_0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0010"
down_revision = "identity_0009"
branch_labels = None
depends_on = None

SETTINGS = (
    ("organization_trial_days", "0", "Days a new organization is on trial (0: no trial, it starts active)"),
    ("trial_server_limit", "2", "Servers an organization may have while on trial"),
    ("trial_volume_gb_limit", "100", "GB of volumes an organization may have while on trial"),
    ("trial_floating_ip_limit", "1", "Floating IPs an organization may have while on trial"),
)


def upgrade() -> None:
    for key, value, description in SETTINGS:
        op.execute(
            sa.text(
                "INSERT INTO system_settings (`key`, value, type, description, version, created_at, updated_at) "
                "SELECT :key, :value, 'integer', :description, 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) "
                "WHERE NOT EXISTS (SELECT 1 FROM system_settings WHERE `key` = :key)"
            ).bindparams(key=key, value=value, description=description)
        )
    op.create_index("idx_status_trial_ends", "organizations", ["status", "trial_ends_at"])


def downgrade() -> None:
    op.drop_index("idx_status_trial_ends", "organizations")
    for key, _, _ in SETTINGS:
        op.execute(sa.text("DELETE FROM system_settings WHERE `key` = :key").bindparams(key=key))
