"""alert_history becomes monitoring's projection of its alert events (alert.triggered, resolved,
acknowledged on monitoring.events): the alert's id is the events' (a function of rule, resource
and trigger time), it names the resource the rule fired on (a rule may cover every server of its
tenant), and the seed's foreign key to alert_rules goes — a projection table has none (a replay
rebuilds it beside the live one); the seed's ON DELETE CASCADE is the projection's handling of
``alert_rule.deleted``.

Revision ID: monitoring_0005
Revises: monitoring_0004
Create Date: 2026-12-07
"""

from alembic import op

revision = "monitoring_0005"
down_revision = "monitoring_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE alert_history DROP FOREIGN KEY fk_alert_history_rule")
    op.execute(
        "ALTER TABLE alert_history "
        "ADD COLUMN resource_type ENUM('server', 'volume', 'load_balancer') NOT NULL DEFAULT 'server' "
        "AFTER alert_rule_id, "
        "ADD COLUMN resource_id BIGINT UNSIGNED NULL AFTER resource_type, "
        "ADD INDEX idx_resource (resource_type, resource_id)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE alert_history DROP INDEX idx_resource, DROP COLUMN resource_id, DROP COLUMN resource_type")
    op.execute(
        "ALTER TABLE alert_history ADD CONSTRAINT fk_alert_history_rule FOREIGN KEY (alert_rule_id) "
        "REFERENCES alert_rules(id) ON DELETE CASCADE"
    )
