"""login_failures: index by client address, for the per-address cap on distinct emails

Revision ID: 0815
Revises: 0814
Create Date: 2026-12-01
"""
from alembic import op

revision = '0815'
down_revision = '0814'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_ip_ts', ['ip', 'ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_ip_ts')
