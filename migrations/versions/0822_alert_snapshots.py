"""outbox.value/severity, rule_ticks.observed_since

A thread reply ("Escalated to CRITICAL: 7.2% > 5%") quoted the alert's value
at delivery time; after a Slack outage it quoted a later value. The outbox row
now keeps what the alert was when the event happened.

``rule_ticks.observed_since``: the time since when evaluation has ticked
without a gap (clock jump forward, downtime). ``absence`` counts silence from
no earlier than that, so a forward clock jump larger than its window does not
make every service look silent at once.

Revision ID: 0822
Revises: 0817
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0822'
down_revision = '0817'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('severity', sa.String(length=16), nullable=True))
    with op.batch_alter_table('rule_ticks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('observed_since', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule_ticks', schema=None) as batch_op:
        batch_op.drop_column('observed_since')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('severity')
        batch_op.drop_column('value')
