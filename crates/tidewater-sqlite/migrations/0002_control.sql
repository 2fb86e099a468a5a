-- What the scheduler service needs besides runs: one run per scheduled interval, backfills,
-- paused workflows, and the service's own health record.

-- A backfill: one run per interval of a range, admitted a few at a time. Stopping it and
-- giving the same command again resumes it (see `unfinished_backfill`).
CREATE TABLE backfills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    -- The first and last day of the range, as given (YYYY-MM-DD).
    range_from TEXT NOT NULL,
    range_to TEXT NOT NULL,
    -- Runs of the backfill that may be active at once.
    max_active_runs INTEGER NOT NULL CHECK (max_active_runs > 0),
    -- 1: newest interval first.
    reverse INTEGER NOT NULL CHECK (reverse IN (0, 1)),
    created_at INTEGER NOT NULL,
    -- Set when every run of the backfill ended.
    finished_at INTEGER
);

CREATE INDEX backfills_unfinished ON backfills (workflow, range_from, range_to)
    WHERE finished_at IS NULL;

ALTER TABLE runs ADD COLUMN backfill_id INTEGER REFERENCES backfills (id);

-- The scheduler creates exactly one run per interval, however often it restarts; a backfill
-- creates one run per interval of its own.
CREATE UNIQUE INDEX runs_one_per_scheduled_interval ON runs (workflow, interval_start, interval_end)
    WHERE triggered_by = 'scheduled';
CREATE UNIQUE INDEX runs_one_per_backfill_interval ON runs (backfill_id, interval_start, interval_end)
    WHERE backfill_id IS NOT NULL;

-- Runs that still have to run or finish: what the service executes and `queue` explains.
CREATE INDEX runs_active ON runs (state) WHERE state IN ('queued', 'running');
-- `runs_in_range`, `last_scheduled_end`.
CREATE INDEX runs_by_workflow_interval ON runs (workflow, interval_start);

-- Workflows paused with `tidewater pause`: the scheduler creates no new runs for them.
CREATE TABLE paused_workflows (
    workflow TEXT PRIMARY KEY,
    paused_at INTEGER NOT NULL
);

-- The running service (at most one per store) and its view of the project's files.
CREATE TABLE service (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    start_ticks INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    -- Rewritten whenever the service publishes its workflows' health.
    updated_at INTEGER NOT NULL
);

-- One row per workflow file the service knows.
CREATE TABLE service_workflows (
    -- The file, relative to the project.
    file TEXT PRIMARY KEY,
    -- NULL when the file never loaded well enough to name its workflow.
    workflow TEXT,
    -- The hash of the version the service schedules (the last good one).
    workflow_hash TEXT,
    -- When the next scheduled run is due; NULL without a schedule.
    next_due INTEGER,
    -- Why the file on disk cannot be used now (the last good version keeps running).
    problem TEXT
);
