"""audit_log: an index on (object_type, object_id), for an object's history (who declined a tour)

Revision ID: 0013_audit_log_object_index
Revises: 0012_tour_language_accepted
"""
from alembic import op

revision = '0013_audit_log_object_index'
down_revision = '0012_tour_language_accepted'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_log_object', 'audit_log', ['object_type', 'object_id'])


def downgrade():
    op.drop_index('ix_audit_log_object', table_name='audit_log')
