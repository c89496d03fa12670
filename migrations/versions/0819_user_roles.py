"""users.is_admin: admins manage users, tokens and projects

Users of an existing installation become admins on upgrade: until now every
user could do everything, and taking that away silently would lock people out.

Revision ID: 0819
Revises: 0818
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0819'
down_revision = '0818'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_admin', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(sa.text("UPDATE users SET is_admin = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_admin')
