"""users.feed_version: counts the changes of a guide's tours, kept by triggers on tours

A guide's calendar feed answers "unchanged" (304) by comparing this number instead of reading their tours.
The triggers count every insert, update and delete of a tour for the guide it had and the guide it has, so
no change made anywhere (services, purge, a person with psql) can leave a feed looking unchanged.

Revision ID: 0007_feed_version
Revises: 0006_outbox_snapshot
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_feed_version'
down_revision = '0006_outbox_snapshot'
branch_labels = None
depends_on = None

POSTGRESQL = [
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
SQLITE = [
    """
    CREATE TRIGGER tours_feed_insert AFTER INSERT ON tours WHEN NEW.guide_id IS NOT NULL
    BEGIN UPDATE users SET feed_version = feed_version + 1 WHERE id = NEW.guide_id; END
    """,
    """
    CREATE TRIGGER tours_feed_update AFTER UPDATE ON tours
    BEGIN UPDATE users SET feed_version = feed_version + 1 WHERE id IN (OLD.guide_id, NEW.guide_id); END
    """,
    """
    CREATE TRIGGER tours_feed_delete AFTER DELETE ON tours WHEN OLD.guide_id IS NOT NULL
    BEGIN UPDATE users SET feed_version = feed_version + 1 WHERE id = OLD.guide_id; END
    """,
]


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_version', sa.Integer(), server_default='0', nullable=False))
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER tours_feed_change ON tours')
        op.execute('DROP FUNCTION tours_count_feed_change()')
    else:
        for name in ('tours_feed_insert', 'tours_feed_update', 'tours_feed_delete'):
            op.execute(f'DROP TRIGGER {name}')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('feed_version')
