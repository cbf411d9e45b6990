"""Server actions beyond power: what they need recorded.

- actions gains ``params`` (JSON): what the worker needs to carry an action out (the image of
  a rebuild, the new type of a type change, ...). Never a secret: passwords upstream answers
  are shown once to the caller and stored nowhere.
- servers gains ``disk_gb``: the size of its disk now. A type change without upgrade_disk
  keeps it (so a later downgrade stays possible); a type whose disk is smaller is refused.
  NULL for servers made before: their type's disk.
- images gains ``organization_id`` (a snapshot belongs to a tenant: user_id and, for an
  organization's server, the organization), ``labels``, ``server_id`` (the server it was
  made from) and ``disk_size`` (that server's disk in GB).

Revision ID: compute_0006
Revises: compute_0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "compute_0006"
down_revision = "compute_0005"
branch_labels = None
depends_on = None

ID = mysql.BIGINT(unsigned=True)


def upgrade() -> None:
    op.add_column("actions", sa.Column("params", sa.JSON, nullable=True))
    op.add_column("servers", sa.Column("disk_gb", sa.Integer, nullable=True))
    op.add_column("images", sa.Column("organization_id", ID, nullable=True))
    op.add_column("images", sa.Column("labels", sa.JSON, nullable=True))
    op.add_column("images", sa.Column("server_id", ID, nullable=True))
    op.add_column("images", sa.Column("disk_size", sa.Integer, nullable=True))
    op.create_index("idx_images_org", "images", ["organization_id"])


def downgrade() -> None:
    op.drop_index("idx_images_org", "images")
    for column in ("disk_size", "server_id", "labels", "organization_id"):
        op.drop_column("images", column)
    op.drop_column("servers", "disk_gb")
    op.drop_column("actions", "params")
