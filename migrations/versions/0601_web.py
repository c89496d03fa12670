"""web UI: sessions, login failures, full-text search on logs.message

SQLite: an FTS5 external-content table ``logs_fts`` over ``logs.message``
with the ``trigram`` tokenizer (substring matching, the same meaning as the
LIKE it replaces and as pg_trgm), kept in sync by triggers so every writer
(ingest, retention) maintains it without knowing it exists.
PostgreSQL: ``pg_trgm`` and a GIN trigram index, which ``ILIKE '%text%'``
uses directly.

Revision ID: 0601
Revises: 0501
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0601'
down_revision = '0501'
branch_labels = None
depends_on = None

SQLITE_FTS = [
    ("CREATE VIRTUAL TABLE logs_fts USING fts5(message, content='logs', content_rowid='id', "
    "tokenize='trigram')"),
    ("CREATE TRIGGER logs_fts_insert AFTER INSERT ON logs BEGIN "
    "INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message); END"),
    ("CREATE TRIGGER logs_fts_delete AFTER DELETE ON logs BEGIN "
    "INSERT INTO logs_fts(logs_fts, rowid, message) VALUES ('delete', old.id, old.message); END"),
    ("CREATE TRIGGER logs_fts_update AFTER UPDATE OF message ON logs BEGIN "
    "INSERT INTO logs_fts(logs_fts, rowid, message) VALUES ('delete', old.id, old.message); "
    "INSERT INTO logs_fts(rowid, message) VALUES (new.id, new.message); END"),
    "INSERT INTO logs_fts(logs_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    op.create_table('sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('last_seen_at', sa.Double(), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_email_ip_ts', ['email', 'ip', 'ts'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_logs_message_trgm ON logs USING gin (message gin_trgm_ops)")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_logs_message_trgm")
    else:
        for name in ('logs_fts_insert', 'logs_fts_delete', 'logs_fts_update'):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS logs_fts")
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_email_ip_ts')
    op.drop_table('login_failures')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_sessions_expires_at'))
    op.drop_table('sessions')
