"""project_retention: a project's own retention per kind of data

Revision ID: 0821
Revises: 0822
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0821'
down_revision = "0822"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'project_retention',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE',
                                name=op.f('fk_project_retention_project_id_projects')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_project_retention')),
        sa.UniqueConstraint('project_id', 'kind', name=op.f('uq_project_retention_project_id_kind')),
    )


def downgrade() -> None:
    op.drop_table('project_retention')
