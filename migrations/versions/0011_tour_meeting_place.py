"""tours.meeting_place: which meeting point was chosen, so that station and city hall are named in the
reader's language (meeting_point keeps the text: the company's address, or the name in the partner's language)

Tours booked before keep their text; the two named places are recognised in either language.

Revision ID: 0011_tour_meeting_place
Revises: 0010_feed_version_per_statement
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_tour_meeting_place'
down_revision = '0010_feed_version_per_statement'
branch_labels = None
depends_on = None

# The names as the booking form wrote them before (English and German catalogue).
NAMES = {
    'station': ("{city} main station", "{city} Hauptbahnhof"),
    'city_hall': ("City hall {city}", "Rathaus {city}"),
}


def upgrade():
    # A plain ADD COLUMN on both databases: a batch copy of tours on SQLite would drop its feed triggers (0007).
    op.add_column('tours', sa.Column('meeting_place', sa.String(length=20), nullable=True))
    tours = sa.table('tours', sa.column('meeting_place'), sa.column('meeting_point'), sa.column('city_id'))
    cities = sa.table('cities', sa.column('id'), sa.column('name'))
    city_name = sa.select(cities.c.name).where(cities.c.id == tours.c.city_id).scalar_subquery()
    for place, names in NAMES.items():
        spelled = [sa.literal(before) + city_name + sa.literal(after)
                   for before, after in (name.split('{city}') for name in names)]
        op.execute(tours.update().where(tours.c.meeting_point.in_(spelled)).values(meeting_place=place))


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tours DROP COLUMN meeting_place')  # SQLite 3.35+, keeps the triggers
    else:
        op.drop_column('tours', 'meeting_place')
