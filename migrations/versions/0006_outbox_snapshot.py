"""outbox: a tour's message is written by the worker from a snapshot of the tour

Revision ID: 0006_outbox_snapshot
Revises: 0005_absence_index
"""
from alembic import op
import sqlalchemy as sa

revision = '0006_outbox_snapshot'
down_revision = '0005_absence_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('snapshot', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('snapshot')
        batch_op.drop_column('language')
        batch_op.drop_column('template')
