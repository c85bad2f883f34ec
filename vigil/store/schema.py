"""Tables of the SQL event stores, in SQLAlchemy Core (shared by every dialect).

``events`` is append-only. ``experiments.last_run`` is the run counter,
advanced with one atomic ``UPDATE ... RETURNING`` so that concurrent processes
never share a run number. ``meta`` holds versioned records of stored objects.

Indexes may be added without a new :data:`SCHEMA_VERSION`: every open
creates the missing ones (``CREATE INDEX IF NOT EXISTS``), and older vigil
versions ignore them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_VERSION = 1

metadata = sa.MetaData()

JsonText = sa.JSON().with_variant(JSONB(), "postgresql")

experiments = sa.Table(
    "vigil_experiments", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("uid", sa.String(32), nullable=False),
    sa.Column("created", sa.Float(precision=53), nullable=False),
    sa.Column("last_run", sa.Integer, nullable=False, server_default="0"),
)

runs = sa.Table(
    "vigil_runs", metadata,
    sa.Column("exp_id", sa.Integer, primary_key=True),
    sa.Column("run", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", sa.Float(precision=53), nullable=False),
    sa.Column("ended", sa.Float(precision=53)),
    sa.Column("node", sa.String(256), nullable=False),
    sa.Column("userid", sa.String(256), nullable=False),
)

events = sa.Table(
    "vigil_events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("exp_id", sa.Integer, nullable=False),
    sa.Column("run", sa.Integer, nullable=False),
    sa.Column("event", sa.String(256), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("value_num", sa.Float(precision=53)),
    sa.Column("value_json", sa.Text),
    sa.Column("step", sa.BigInteger),
    sa.Column("dt", sa.Float(precision=53), nullable=False),
    sa.Column("node", sa.String(256), nullable=False),
    sa.Column("userid", sa.String(256), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("extra", JsonText),
    sa.Index("ix_vigil_events_run_key", "exp_id", "run", "key"),
    sa.Index("ix_vigil_events_event_run", "exp_id", "event", "run"),
    # Windows of monitoring agents are looked up by id (exactly-once storage): a
    # partial index holds one entry per window event only, so other rows cost nothing.
    sa.Index("ix_vigil_events_window_key", "exp_id", "key",
             sqlite_where=sa.text("event = 'window'"), postgresql_where=sa.text("event = 'window'")),
)

meta = sa.Table(
    "vigil_meta", metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created", sa.Float(precision=53), nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)

schema_info = sa.Table(
    "vigil_schema", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
)

#: Columns written on the hot path, in :data:`vigil.store.base.EVENT_COLUMNS` order.
INSERT_COLUMNS = [events.c[name] for name in (
    "exp_id", "run", "event", "key", "value_num", "value_json",
    "step", "dt", "node", "userid", "name", "extra",
)]
