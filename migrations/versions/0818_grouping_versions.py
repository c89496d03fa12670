"""grouping versions: a grouping version per project, and extra hashes per issue

Existing projects keep version 1 (how their issues were grouped); new projects
get the current version. ``issue_hashes`` maps further fingerprints to an issue
(the ones computed by a newer version during a transition).

Revision ID: 0818
Revises: 0815
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0818'
down_revision = '0815'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grouping_version', sa.SmallInteger(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('grouping_fallback_until', sa.Double(), nullable=True))
    op.create_table('issue_hashes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('issue_id', sa.BigInteger(), nullable=False),
    sa.Column('grouping_version', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_hashes')),
    sa.UniqueConstraint('project_id', 'hash', name=op.f('uq_issue_hashes_project_id_hash'))
    )
    with op.batch_alter_table('issue_hashes', schema=None) as batch_op:
        batch_op.create_index('ix_issue_hashes_issue_id', ['issue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issue_hashes', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_hashes_issue_id')
    op.drop_table('issue_hashes')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('grouping_fallback_until')
        batch_op.drop_column('grouping_version')
