"""alerts.assigned_to / assigned_slack_id: who an alert was assigned to from Slack

"Assign to…" in the alert's Slack message picks a Slack user; the alert keeps
the user's id (to mention them) and their name as shown (for the UI).

Revision ID: 0824
Revises: 0823
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0824'
down_revision = '0823'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('assigned_slack_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('assigned_slack_id')
        batch_op.drop_column('assigned_to')
