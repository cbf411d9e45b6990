"""Server actions that set something on the server: what they need recorded.

- ``servers.iso``: the ISO in the server's drive as upstream describes it (id, name,
  description, type, architecture), shown in the Hetzner view; the seed's ``iso_mounted``
  keeps its name.
- ``servers.dns_ptrs``: the reverse DNS names set for the server's addresses
  (``{"<ip>": "<name>"}``), shown as ``public_net.ipv4.dns_ptr`` / ``ipv6.dns_ptr``.
- ``servers.backup_window``: upstream's backup window while backups are enabled (Hetzner's
  view shows backups as a non-null window).

Revision ID: compute_0008
Revises: compute_0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "compute_0008"
down_revision = "compute_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("iso", sa.JSON, nullable=True))
    op.add_column("servers", sa.Column("dns_ptrs", sa.JSON, nullable=True))
    op.add_column("servers", sa.Column("backup_window", sa.String(16), nullable=True))


def downgrade() -> None:
    for column in ("backup_window", "dns_ptrs", "iso"):
        op.drop_column("servers", column)
