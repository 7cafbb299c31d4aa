"""tours.request_key: the booking form's own key, so that the same form sent twice books one tour

Revision ID: 0014_tour_request_key
Revises: 0013_audit_log_object_index
"""
import sqlalchemy as sa
from alembic import op

revision = '0014_tour_request_key'
down_revision = '0013_audit_log_object_index'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN and an index, no batch copy of the table: on SQLite that would drop the feed triggers
    # of 0007/0010.
    op.add_column('tours', sa.Column('request_key', sa.String(32), nullable=True))
    op.create_index('uq_tours_request_key', 'tours', ['request_key'], unique=True)


def downgrade():
    op.drop_index('uq_tours_request_key', table_name='tours')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tours DROP COLUMN request_key')  # SQLite 3.35+, keeps the triggers
    else:
        op.drop_column('tours', 'request_key')
