"""alerts.escalated_at: when an unacknowledged alert last paged its rule's escalate_to

A rule's ``escalate_after`` counts from the time the alert fired, then from each
page; the anchor lives on the alert so a restart or another instance continues
the count instead of paging again at once.

Revision ID: 0823
Revises: 0821
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0823'
down_revision = '0821'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalated_at', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
