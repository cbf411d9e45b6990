"""Image protection and image actions.

- ``images.protection_delete``: a tenant's snapshot protected against deletion
  (``POST /v1/images/{id}/actions/change_protection``); the platform's own, like a server's.
- ``actions.image_id``: the image an action is about (``change_protection`` of an image, and the
  ``create_image`` action, which is about its server and its image), so that an image's actions
  can be listed (``GET /v1/images/{id}/actions``, ``/v1/images/actions``).

Revision ID: compute_0011
Revises: compute_0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0011"
down_revision = "compute_0010"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)


def upgrade() -> None:
    op.add_column("images", sa.Column("protection_delete", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("actions", sa.Column("image_id", ID))
    op.create_index("idx_actions_image", "actions", ["image_id", "id"])
    # The create_image actions made so far are about the image in their params too.
    op.execute(
        "UPDATE actions SET image_id = CAST(JSON_VALUE(params, '$.image_id') AS UNSIGNED) "
        "WHERE command = 'create_image' AND JSON_VALUE(params, '$.image_id') IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("idx_actions_image", table_name="actions")
    op.drop_column("actions", "image_id")
    op.drop_column("images", "protection_delete")
