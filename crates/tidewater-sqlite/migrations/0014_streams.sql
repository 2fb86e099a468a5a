-- Streams (issue 19): who consumes each stream (the same compare-and-set owner as a run's)
-- and a report of its last committed micro-batch for `tidewater streams`. The stream's
-- position of record is the Delta table's transaction identifier, committed with the rows;
-- these columns only repeat it for display.
CREATE TABLE streams (
    name TEXT PRIMARY KEY NOT NULL,
    owner_pid INTEGER,
    owner_start_ticks INTEGER,
    claimed_at INTEGER,
    last_commit_at INTEGER,
    last_position INTEGER,
    last_table_version INTEGER,
    last_messages INTEGER,
    last_dead_letters INTEGER,
    last_rate REAL,
    messages_total INTEGER NOT NULL DEFAULT 0,
    dead_letters_total INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
