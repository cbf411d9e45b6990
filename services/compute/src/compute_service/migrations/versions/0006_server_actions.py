"""Server actions beyond power: what they need recorded (filled in by the server-actions work).

Revision ID: compute_0006
Revises: compute_0005
Create Date: 2026-11-25
"""

revision = "compute_0006"
down_revision = "compute_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
