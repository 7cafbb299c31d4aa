"""tours.language_accepted: a coordinator chose to keep a guide who does not speak the partner's language

The attention lists (the coordinator's start page and tour list) leave such a tour out until its guide or
its language changes.

Revision ID: 0012_tour_language_accepted
Revises: 0011_tour_meeting_place
"""
from alembic import op
import sqlalchemy as sa

revision = '0012_tour_language_accepted'
down_revision = '0011_tour_meeting_place'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on both databases: a batch copy of tours on SQLite would drop its feed triggers (0007).
    op.add_column('tours', sa.Column('language_accepted', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tours DROP COLUMN language_accepted')  # SQLite 3.35+, keeps the triggers
    else:
        op.drop_column('tours', 'language_accepted')
