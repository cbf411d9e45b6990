"""Metering and suspension: what they need recorded (filled in by the metering work).

Revision ID: compute_0007
Revises: compute_0006
Create Date: 2026-11-25
"""

revision = "compute_0007"
down_revision = "compute_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
