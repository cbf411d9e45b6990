"""The default quota of volume GB per tenant (storage reserves ``volume_gb``): 10,240 GB, one
volume of Hetzner's largest size. Other resource types keep ``default_server_limit``.

Revision ID: identity_0006
Revises: identity_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0006"
down_revision = "identity_0005"
branch_labels = None
depends_on = None

KEY = "default_volume_gb_limit"


def upgrade() -> None:
    op.execute(
        sa.text(
            "INSERT INTO system_settings (`key`, value, type, description, version, created_at, updated_at) "
            "SELECT :key, '10240', 'integer', 'Default GB of volumes per tenant', 1, "
            "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) "
            "WHERE NOT EXISTS (SELECT 1 FROM system_settings WHERE `key` = :key)"
        ).bindparams(key=KEY)
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM system_settings WHERE `key` = :key").bindparams(key=KEY))
