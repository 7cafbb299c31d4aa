"""users.feed_version on PostgreSQL: counted once per statement, not once per tour

0007 counted a guide's feed version up once for every tour row a statement changed. A statement that changes
many tours at once (the purge erases a year of them: 20,000 rows of 200 guides) then updated each guide's
row a hundred times in one transaction, and took seven of its eight seconds doing so. Statement-level
triggers with transition tables count each guide whose tours a statement changed once. (The count only has
to move on with every change, as a feed's ETag and a booking's re-check compare it; SQLite keeps 0007's row
triggers, it has no others.)

Revision ID: 0010_feed_version_per_statement
Revises: 0009_tour_guide_time_covering
"""
from alembic import op

revision = '0010_feed_version_per_statement'
down_revision = '0009_tour_guide_time_covering'
branch_labels = None
depends_on = None

PER_STATEMENT = [
    """
    CREATE FUNCTION tours_count_feed_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE users SET feed_version = feed_version + 1
            WHERE id IN (SELECT guide_id FROM new_tours WHERE guide_id IS NOT NULL);
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE users SET feed_version = feed_version + 1
            WHERE id IN (SELECT guide_id FROM old_tours WHERE guide_id IS NOT NULL
                         UNION SELECT guide_id FROM new_tours WHERE guide_id IS NOT NULL);
        ELSE
            UPDATE users SET feed_version = feed_version + 1
            WHERE id IN (SELECT guide_id FROM old_tours WHERE guide_id IS NOT NULL);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tours_feed_insert AFTER INSERT ON tours REFERENCING NEW TABLE AS new_tours
    FOR EACH STATEMENT EXECUTE FUNCTION tours_count_feed_changes()
    """,
    """
    CREATE TRIGGER tours_feed_update AFTER UPDATE ON tours REFERENCING OLD TABLE AS old_tours NEW TABLE AS new_tours
    FOR EACH STATEMENT EXECUTE FUNCTION tours_count_feed_changes()
    """,
    """
    CREATE TRIGGER tours_feed_delete AFTER DELETE ON tours REFERENCING OLD TABLE AS old_tours
    FOR EACH STATEMENT EXECUTE FUNCTION tours_count_feed_changes()
    """,
]

PER_ROW = [  # as 0007 made them
    """
    CREATE FUNCTION tours_count_feed_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.guide_id IS NOT NULL THEN
            UPDATE users SET feed_version = feed_version + 1 WHERE id = OLD.guide_id;
        END IF;
        IF NEW.guide_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.guide_id IS DISTINCT FROM OLD.guide_id) THEN
            UPDATE users SET feed_version = feed_version + 1 WHERE id = NEW.guide_id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tours_feed_change AFTER INSERT OR UPDATE OR DELETE ON tours
    FOR EACH ROW EXECUTE FUNCTION tours_count_feed_change()
    """,
]


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER tours_feed_change ON tours')
    op.execute('DROP FUNCTION tours_count_feed_change()')
    for statement in PER_STATEMENT:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in ('tours_feed_insert', 'tours_feed_update', 'tours_feed_delete'):
        op.execute(f'DROP TRIGGER {name} ON tours')
    op.execute('DROP FUNCTION tours_count_feed_changes()')
    for statement in PER_ROW:
        op.execute(statement)
