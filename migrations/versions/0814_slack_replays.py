"""slack_replays: accepted Slack signatures kept in the database; end silences with bad times

Revision ID: 0814
Revises: 0701
Create Date: 2026-12-01

A silence created with ``"ends_at": "nan"`` (or a time past year 9999) was
accepted before times were checked: on PostgreSQL it muted its alerts for
ever and broke the /silences page. Such rows are ended at their creation time
(kept, so the page still shows who made them).
"""
import sqlalchemy as sa
from alembic import op

revision = '0814'
down_revision = '0701'
branch_labels = None
depends_on = None

MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z, the last second datetime can show


def upgrade() -> None:
    op.create_table('slack_replays',
    sa.Column('signature', sa.String(length=80), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_slack_replays'))
    )
    with op.batch_alter_table('slack_replays', schema=None) as batch_op:
        batch_op.create_index('ix_slack_replays_expires_at', ['expires_at'], unique=False)
    # NaN compares greater than every number on PostgreSQL, so "not between" catches it,
    # as it catches +-Infinity; SQLite cannot store NaN (it becomes NULL).
    op.execute(sa.text(
        "UPDATE silences SET starts_at = created_at, ends_at = created_at "
        "WHERE NOT (starts_at BETWEEN 0 AND :top AND ends_at BETWEEN 0 AND :top)"
    ).bindparams(top=MAX_EPOCH))


def downgrade() -> None:
    with op.batch_alter_table('slack_replays', schema=None) as batch_op:
        batch_op.drop_index('ix_slack_replays_expires_at')
    op.drop_table('slack_replays')
