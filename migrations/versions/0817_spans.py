"""spans: one row per span of a trace (Sentry transactions and spans, OTLP traces)

Revision ID: 0817
Revises: 0819
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0817'
down_revision = '0819'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('ts', sa.Double(), nullable=False),
    sa.Column('received_at', sa.Double(), nullable=False),
    sa.Column('service', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=200), nullable=False),
    sa.Column('release', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=True),
    sa.Column('trace_id', sa.String(length=64), nullable=True),
    sa.Column('attributes', sa.Text(), nullable=False),
    sa.Column('span_id', sa.String(length=32), nullable=False),
    sa.Column('parent_span_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('op', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('duration_ms', sa.Double(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('sample_rate', sa.Double(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spans'))
    )
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.create_index('ix_spans_project_id_trace_id', ['project_id', 'trace_id'],
                              unique=False)
        batch_op.create_index('ix_spans_project_id_request_id', ['project_id', 'request_id'],
                              unique=False)
        batch_op.create_index('ix_spans_ts', ['ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.drop_index('ix_spans_ts')
        batch_op.drop_index('ix_spans_project_id_request_id')
        batch_op.drop_index('ix_spans_project_id_trace_id')
    op.drop_table('spans')
