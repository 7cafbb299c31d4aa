"""a guide's tours by start: the index also carries status, end, blocked_until and id (PostgreSQL)

The loader's questions about a guide's tours in a range (and the fairness rule's count) are then answered
from the index alone, without a visit to each tour's row. SQLite keeps the plain index.

Revision ID: 0009_tour_guide_time_covering
Revises: 0008_tour_assignment_index
"""
from alembic import op

revision = '0009_tour_guide_time_covering'
down_revision = '0008_tour_assignment_index'
branch_labels = None
depends_on = None

INCLUDED = ['status', 'ends_at', 'blocked_until', 'id']


def upgrade():
    op.drop_index('ix_tours_guide_time', table_name='tours')
    op.create_index('ix_tours_guide_time', 'tours', ['guide_id', 'starts_at'], unique=False,
                    postgresql_include=INCLUDED)


def downgrade():
    op.drop_index('ix_tours_guide_time', table_name='tours')
    op.create_index('ix_tours_guide_time', 'tours', ['guide_id', 'starts_at'], unique=False)
