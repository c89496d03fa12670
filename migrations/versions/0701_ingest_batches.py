"""ingest_batches: ids of stored SDK batches, so a retried batch is stored once

Revision ID: 0701
Revises: 0601
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0701'
down_revision = '0601'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.Double(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batches')),
    sa.UniqueConstraint('project_id', 'batch_id',
                        name=op.f('uq_ingest_batches_project_id_batch_id'))
    )
    with op.batch_alter_table('ingest_batches', schema=None) as batch_op:
        batch_op.create_index('ix_ingest_batches_received_at', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_ingest_batches_received_at')
    op.drop_table('ingest_batches')
