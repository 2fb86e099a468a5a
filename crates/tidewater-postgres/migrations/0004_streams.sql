-- Streams (issue 19), as SQLite's migrations 0014 and 0016 keep them: who consumes each
-- stream (the same compare-and-set owner as a run's), a report of its last committed
-- micro-batch, its pause and why the server's last try of it failed. The stream's position
-- of record is the Delta table's transaction identifier, committed with the rows; these
-- columns only repeat it for display. Timestamps are BIGINT microseconds, as in 0001.
CREATE TABLE streams (
    name TEXT PRIMARY KEY,
    owner_pid INTEGER,
    owner_start_ticks BIGINT,
    claimed_at BIGINT,
    last_commit_at BIGINT,
    last_position BIGINT,
    last_table_version BIGINT,
    last_messages BIGINT,
    last_dead_letters BIGINT,
    last_rate DOUBLE PRECISION,
    messages_total BIGINT NOT NULL DEFAULT 0,
    dead_letters_total BIGINT NOT NULL DEFAULT 0,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    paused_at BIGINT,
    failure_at BIGINT,
    failure_reason TEXT,
    failure_retry_at BIGINT,
    CHECK ((owner_pid IS NULL) = (owner_start_ticks IS NULL))
);
