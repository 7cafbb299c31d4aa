"""index for a guide's last assignment (the fairness rule's tie-break)

Revision ID: 0008_tour_assignment_index
Revises: 0007_feed_version
"""
from alembic import op

revision = '0008_tour_assignment_index'
down_revision = '0007_feed_version'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tours_guide_assigned', 'tours', ['guide_id', 'assigned_at'], unique=False)


def downgrade():
    op.drop_index('ix_tours_guide_assigned', table_name='tours')
