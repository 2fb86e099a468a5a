-- Runs, their task instances, and the attempts of each task instance.
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): they sort and compare as
-- numbers, and microseconds are also what PostgreSQL's timestamptz keeps, so every backend
-- stores the same precision. Enum columns (`state`, `triggered_by`, `outcome`, `failure`)
-- hold the strings of `src/sqlite_store/codec.rs`, the only code that writes or reads them.

CREATE TABLE runs (
    -- AUTOINCREMENT so that an id is never reused, even after the newest run is deleted:
    -- run ids name log folders and appear in users' notes.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow TEXT NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_end INTEGER NOT NULL,
    triggered_by TEXT NOT NULL,
    -- A JSON object.
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    -- Set from `running` on.
    started_at INTEGER,
    -- Set in the terminal states.
    finished_at INTEGER,
    workflow_hash TEXT NOT NULL,
    workflow_source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- The process executing the run; both NULL when no process claimed it.
    owner_pid INTEGER,
    owner_start_ticks INTEGER,
    CHECK ((owner_pid IS NULL) = (owner_start_ticks IS NULL))
);

-- `list_runs`: newest first, with or without a workflow.
CREATE INDEX runs_by_workflow_newest_first ON runs (workflow, created_at DESC, id DESC);
CREATE INDEX runs_newest_first ON runs (created_at DESC, id DESC);

CREATE TABLE task_instances (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    -- The task's index in the list given to `create_run`: task instances are read in this order.
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    -- The attempt the state is about (queued, running, succeeded, failed, up_for_retry).
    attempt INTEGER,
    -- At most one of these is set, by state: queued, running, succeeded or failed, up_for_retry.
    queued_since INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    not_before INTEGER,
    last_attempt INTEGER NOT NULL,
    attempt_base INTEGER NOT NULL,
    -- JSON text; NULL when there is no output (the JSON value `null` is stored as 'null').
    output TEXT,
    PRIMARY KEY (run_id, task),
    UNIQUE (run_id, position)
);

CREATE TABLE attempts (
    run_id INTEGER NOT NULL,
    task TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    -- The process the attempt runs in; both NULL until it is known.
    pid INTEGER,
    start_ticks INTEGER,
    -- NULL while the attempt runs (or if its supervisor died before recording the end).
    finished_at INTEGER,
    -- 'succeeded' or 'failed' once finished.
    outcome TEXT,
    -- JSON text of a successful attempt's output, if it wrote one.
    output TEXT,
    -- Why a failed attempt failed, and the data of that reason.
    failure TEXT,
    exit_code INTEGER,
    signal INTEGER,
    message TEXT,
    PRIMARY KEY (run_id, task, attempt),
    FOREIGN KEY (run_id, task) REFERENCES task_instances (run_id, task) ON DELETE CASCADE,
    CHECK ((pid IS NULL) = (start_ticks IS NULL)),
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
);
