"""index for loading a guide's absences around a date

Revision ID: 0005_absence_index
Revises: 0004_feedback_privacy
"""
from alembic import op

revision = '0005_absence_index'
down_revision = '0004_feedback_privacy'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_absences_guide_ends', 'absences', ['guide_id', 'ends_at'], unique=False)


def downgrade():
    op.drop_index('ix_absences_guide_ends', table_name='absences')
